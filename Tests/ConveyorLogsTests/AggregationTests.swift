import ConveyorCore
import ConveyorLogs
import ConveyorTesting
import Testing

@Suite("Aggregation", .serialized)
struct AggregationTests {
    @Test func aggregatesAfterTheFinalPartAndTheDelay() async throws {
        let harness = try await LogsHarness.start { $0.aggregationDelaySeconds = 1.5 }
        let job = randomJob()
        let text = sampleLog(lines: 200)
        let all = parts(job: job, of: text, size: 256)
        try await harness.send(Array(all.dropLast()))
        #expect(try await eventually { try await harness.store.read(job: job, attempt: 1)?.lastPart == all.count - 1 })
        try await Task.sleep(for: .seconds(2))
        #expect(try await harness.logRow(job: job)?.aggregated == false, "no final part yet: not aggregated")

        try await harness.send([all.last!])
        let finalSeen = ContinuousClock.now
        #expect(try await eventually { try await harness.store.read(job: job, attempt: 1)?.final == true })
        #expect(try await eventually { try await harness.logRow(job: job)?.aggregated == true })
        #expect(ContinuousClock.now - finalSeen >= .seconds(1), "aggregated only after the delay")
        let row = try #require(try await harness.logRow(job: job))
        #expect(row.parts == 0, "parts are deleted")
        #expect(row.content == text)
        let snapshot = try #require(try await harness.store.read(job: job, attempt: 1))
        #expect(snapshot.content == text)
        #expect(snapshot.source == .aggregated)
        #expect(snapshot.lastPart == all.count)
        await harness.stop()
    }

    @Test func aLatePartLandsInItsPlace() async throws {
        let harness = try await LogsHarness.start()
        let job = randomJob()
        let text = sampleLog(lines: 120)
        let all = parts(job: job, of: text, size: 200)
        let late = all[all.count / 2]
        try await harness.send(all.filter { $0.number != late.number })
        #expect(try await eventually { try await harness.settled(job: job) })
        #expect(try await harness.store.read(job: job, attempt: 1)?.content != text)

        try await harness.send([late])
        #expect(try await eventually { try await harness.store.read(job: job, attempt: 1)?.content == text })
        #expect(try await eventually { try await harness.settled(job: job, content: text) })

        // A redelivery of an aggregated part is ignored: no new row, no new event, no change.
        try await harness.send([all[0], late, all.last!])
        try await Task.sleep(for: .seconds(1.5))
        #expect(try await harness.logRow(job: job)?.content == text)
        #expect(try await harness.logRow(job: job)?.parts == 0)
        let events = try await harness.events(job: job)
        #expect(events.count == all.count)
        #expect(Set(events.map(\.number)).count == all.count)
        await harness.stop()
    }

    @Test func partsThatArriveAfterAnAggregationAreAppended() async throws {
        let harness = try await LogsHarness.start()
        let job = randomJob()
        let text = sampleLog(lines: 80)
        let all = parts(job: job, of: text, size: 100)
        let half = all.count / 2
        // The final part first (out of order), then the rest in two waves with an aggregation between.
        try await harness.send([all.last!] + all[0..<half])
        #expect(try await eventually { try await harness.settled(job: job) })
        try await harness.send(Array(all[half..<(all.count - 1)]))
        #expect(try await eventually { try await harness.logRow(job: job)?.content == text })
        let snapshot = try #require(try await harness.store.read(job: job, attempt: 1))
        #expect(snapshot.content == text)
        #expect(snapshot.lastPart == all.count)
        await harness.stop()
    }

    @Test func twoServicesAtOnceStoreEachPartOnce() async throws {
        let harness = try await LogsHarness.start(services: 2)
        let jobs = (0..<6).map { _ in randomJob() }
        var texts: [Int64: [UInt8]] = [:]
        var all: [LogPart] = []
        for job in jobs {
            texts[job] = sampleLog(lines: 150)
            all += parts(job: job, of: texts[job]!, size: 64)
        }
        // Interleaved, out of order, every part twice.
        try await harness.send(all.shuffled() + all.shuffled())
        for job in jobs {
            #expect(try await eventually { try await harness.logRow(job: job)?.content == texts[job] })
            #expect(try await harness.store.read(job: job, attempt: 1)?.content == texts[job])
            let events = try await harness.events(job: job)
            #expect(events.count == all.filter { $0.job == job }.count, "one event per part")
            #expect(Set(events.map(\.number)).count == events.count)
        }
        let consumers = try await harness.context.redis.xpendingSummary(harness.context.keys.logs, group: Groups.logs)
        #expect(consumers.count == 0)
        await harness.stop()
    }

    /// More due logs than one aggregation batch holds (120 > 50), each in several parts sent out of
    /// order: every log ends as its text, and its stored part boundaries let a viewer resume after
    /// any part.
    @Test func manyLogsAreAggregatedInBatchesWithTheirBoundaries() async throws {
        let harness = try await LogsHarness.start()
        var texts: [Int64: [UInt8]] = [:]
        var sent: [Int64: [LogPart]] = [:]
        var all: [LogPart] = []
        for _ in 0..<120 {
            let job = randomJob()
            texts[job] = sampleLog(lines: Int.random(in: 5...40))
            sent[job] = parts(job: job, of: texts[job]!, size: 57)
            all += sent[job]!
        }
        try await harness.send(all.shuffled())
        for (job, text) in texts {
            #expect(try await eventually { try await harness.settled(job: job, content: text) }, "job \(job)")
            let pieces = sent[job]!
            let middle = pieces.count / 2
            let after = try await harness.store.parts(job: job, attempt: 1, after: pieces[middle].number)
            let expected = Array(pieces[(middle + 1)...].flatMap(\.content))
            #expect(after.flatMap(\.content) == expected, "job \(job): bytes after part \(pieces[middle].number)")
        }
        await harness.stop()
    }
}
