import ConveyorCore
import ConveyorLogs
import ConveyorTesting
import Testing

@Suite("Ingest: idempotent, ordered, live fan-out", .serialized)
struct IngestTests {
    @Test func partsOutOfOrderAndTwiceEndUpOnceInOrder() async throws {
        let harness = try await LogsHarness.start { $0.aggregationDelaySeconds = 3600 }
        let job = randomJob()
        let text = sampleLog(lines: 300)
        let all = parts(job: job, of: text, size: 300)
        // Reversed, every part twice, the first copies before the second copies.
        try await harness.send(all.reversed() + all.shuffled())
        #expect(try await eventually {
            try await harness.store.read(job: job, attempt: 1)?.lastPart == all.count
        })
        let snapshot = try #require(try await harness.store.read(job: job, attempt: 1))
        #expect(snapshot.content == text)
        #expect(snapshot.final)
        #expect(snapshot.source == .parts)
        let stored = try await harness.context.postgres.query("SELECT count(*) AS n FROM log_parts WHERE job_id = $1", [.int(job)]).first?["n"].int
        #expect(stored == all.count)

        // Redelivered again later: still no new rows, no new events.
        try await harness.send(all)
        try await Task.sleep(for: .seconds(1))
        let events = try await harness.events(job: job)
        #expect(events.count == all.count, "each part is published once")
        #expect(Set(events.map(\.number)).count == all.count)
        // Event content is the part as UTF-8 text: a part cut inside a character carries U+FFFD there.
        let expected = all.map { Array(String(decoding: $0.content, as: UTF8.self).utf8) }
        #expect(events.sorted { $0.number < $1.number }.map(\.content) == expected, "event content is the part's text")
        await harness.stop()
    }

    @Test func attemptsAreSeparateLogs() async throws {
        let harness = try await LogsHarness.start { $0.aggregationDelaySeconds = 3600 }
        let job = randomJob()
        try await harness.send(parts(job: job, attempt: 1, of: Array("first attempt\n".utf8), size: 5)
            + parts(job: job, attempt: 2, of: Array("second attempt\n".utf8), size: 5))
        #expect(try await eventually { try await harness.store.read(job: job, attempt: 2)?.final == true })
        #expect(try await eventually { try await harness.store.read(job: job, attempt: 1)?.final == true })
        #expect(try await harness.store.read(job: job, attempt: 1)?.text == "first attempt\n")
        #expect(try await harness.store.read(job: job)?.text == "second attempt\n", "no job row: the latest attempt")
        #expect(try await harness.store.read(job: job + 1) == nil)
        await harness.stop()
    }

    @Test func nothingIsStoredBeyondTheLogLimit() async throws {
        let harness = try await LogsHarness.start {
            $0.maxLogBytes = 64 * 1024
            $0.aggregationDelaySeconds = 3600
        }
        let job = randomJob()
        let piece = [UInt8](repeating: UInt8(ascii: "x"), count: 8 * 1024)
        var all = (1...100).map { LogPart(job: job, attempt: 1, number: $0, final: false, content: piece) }
        all.append(LogPart(job: job, attempt: 1, number: 101, final: true, content: Array("\nThe log length has exceeded the limit.\n".utf8)))
        try await harness.send(all)
        #expect(try await eventually { try await harness.store.read(job: job, attempt: 1)?.final == true })
        let snapshot = try #require(try await harness.store.read(job: job, attempt: 1))
        // 64 KiB limit + 256 KiB margin, then only the final part.
        let ceiling: Int = 64 * 1024 + 256 * 1024 + 100
        #expect(snapshot.content.count <= ceiling)
        #expect(snapshot.content.count >= 64 * 1024)
        #expect(snapshot.text.hasSuffix("The log length has exceeded the limit.\n"))
        let dropped = try await harness.context.postgres.query("SELECT dropped_parts FROM logs WHERE job_id = $1", [.int(job)]).first?["dropped_parts"].int
        #expect((dropped ?? 0) > 0)
        await harness.stop()
    }

    @Test func malformedEntriesAreAckedAndSkipped() async throws {
        let harness = try await LogsHarness.start()
        let job = randomJob()
        try await harness.context.redis.xadd(harness.context.keys.logs, fields: [("job", "not-a-number")])
        try await harness.send(parts(job: job, of: Array("ok\n".utf8), size: 10))
        #expect(try await eventually { try await harness.store.read(job: job, attempt: 1)?.final == true })
        #expect(try await eventually {
            try await harness.context.redis.xpendingSummary(harness.context.keys.logs, group: Groups.logs).count == 0
        })
        await harness.stop()
    }
}
