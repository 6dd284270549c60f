import ConveyorCore
import ConveyorLogs
import ConveyorTesting
import Testing

@Suite("Archive, purge, and reading wherever the log lives", .serialized)
struct ArchiveTests {
    @Test func readingThroughPartsAggregationAndArchiveReturnsTheSameBytes() async throws {
        let harness = try await LogsHarness.start(archive: true) { $0.aggregationDelaySeconds = 1.5 }
        let job = randomJob()
        var text = sampleLog(lines: 400)
        text += [0xff, 0xfe, 0x00, 0x0a]  // not UTF-8: bytes survive every stage unchanged
        let all = parts(job: job, of: text, size: 512)
        try await harness.send(all.shuffled())

        #expect(try await eventually(every: .milliseconds(20)) { try await harness.store.read(job: job, attempt: 1)?.final == true })
        let fromParts = try #require(try await harness.store.read(job: job, attempt: 1))
        #expect(fromParts.source == .parts)
        #expect(fromParts.content == text)

        #expect(try await eventually { try await harness.logRow(job: job)?.purged == true })
        let row = try #require(try await harness.logRow(job: job))
        #expect(row.archived)
        #expect(row.content == nil, "purged after verification")
        let archived = try #require(try await harness.archive?.get(key: "jobs/\(job)/1/log.txt"))
        #expect(archived == text)

        let fromArchive = try #require(try await harness.store.read(job: job, attempt: 1))
        #expect(fromArchive.source == .archive)
        #expect(fromArchive.content == text)
        #expect(fromArchive.lastPart == all.count)
        #expect(fromArchive.final)
        let tail = try await harness.store.parts(job: job, attempt: 1, after: 3)
        #expect(tail.count == 1)
        #expect(tail.first?.number == all.count)
        #expect(tail.first?.content == Array(text[(3 * 512)...]))
        await harness.stop()
    }

    @Test func aggregatedContentIsReadBeforeArchiving() async throws {
        let harness = try await LogsHarness.start(archive: false)
        let job = randomJob()
        let text = sampleLog(lines: 50)
        try await harness.send(parts(job: job, of: text, size: 100))
        #expect(try await eventually { try await harness.settled(job: job) })
        let snapshot = try #require(try await harness.store.read(job: job, attempt: 1))
        #expect(snapshot.source == .aggregated)
        #expect(snapshot.content == text)
        await harness.stop()
    }

    @Test func aLatePartAfterPurgeIsMergedAndArchivedAgain() async throws {
        let harness = try await LogsHarness.start(archive: true)
        let job = randomJob()
        let text = sampleLog(lines: 100)
        let all = parts(job: job, of: text, size: 300)
        let late = all[2]
        try await harness.send(all.filter { $0.number != late.number })
        #expect(try await eventually { try await harness.logRow(job: job)?.purged == true })

        try await harness.send([late])
        #expect(try await eventually { try await harness.store.read(job: job, attempt: 1)?.content == text })
        #expect(try await eventually {
            let row = try await harness.logRow(job: job)
            return row?.purged == true && row?.parts == 0
        })
        #expect(try await harness.archive?.get(key: "jobs/\(job)/1/log.txt") == text)
        #expect(try await harness.store.read(job: job, attempt: 1)?.content == text)
        await harness.stop()
    }

    @Test func aMismatchedArchiveIsNotPurgedButArchivedAgain() async throws {
        let harness = try await LogsHarness.start(archive: true) { $0.purgeAfterArchive = false }
        let job = randomJob()
        let text = sampleLog(lines: 60)
        try await harness.send(parts(job: job, of: text, size: 100))
        #expect(try await eventually { try await harness.logRow(job: job)?.archived == true })
        // Someone overwrites the object: the archive no longer matches.
        let s3 = try #require(harness.archive)
        try await s3.put(key: "jobs/\(job)/1/log.txt", bytes: Array("corrupted".utf8))

        // Now allow purging (a second service with purge on): it must re-archive before it purges.
        var settings = harness.context.settings
        settings.purgeAfterArchive = true
        settings.nodeID += "-purger"
        let node = try NodeContext.make(settings: settings, logger: harness.context.logger)
        let purger = Task { try await LogsService(context: node, archive: s3).run() }
        #expect(try await eventually { try await harness.logRow(job: job)?.purged == true })
        #expect(try await s3.get(key: "jobs/\(job)/1/log.txt") == text)
        #expect(try await harness.store.read(job: job, attempt: 1)?.content == text)
        purger.cancel()
        _ = try? await purger.value
        await node.close()
        await harness.stop()
    }
}
