@testable import ConveyorWorker
import ConveyorCore
import ConveyorRedis
import ConveyorTesting
import Foundation
import Testing

/// A worker keeps a job's log through a Redis outage: parts wait in memory, then on disk, and go out
/// once Redis is back, numbered without a gap. A private redis-server is killed and restarted (the
/// shared one is never touched).
@Suite("Log stream: Redis outages")
struct LogOutageTests {
    @Test(.timeLimit(.minutes(2)))
    func noLogPartIsLostWhileRedisIsDown() async throws {
        let server = try PrivateRedis()
        try await server.start()
        let work = NSTemporaryDirectory() + "conveyor-log-outage/\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: work) }
        let context = try await TestEnvironment.context(roles: [.worker]) {
            $0.redisURL = server.url
            $0.workDirectory = work
            $0.logFlushMilliseconds = 10
            $0.logFlushBytes = 256
        }
        let log = LogStream(job: 7, attempt: 1, context: context, secrets: [], maxBytes: 50_000_000, memoryLimit: 4096)
        log.start()
        func line(_ index: Int) -> [UInt8] { Array("line \(index) \(String(repeating: "x", count: 40))\n".utf8) }

        var expected: [UInt8] = []
        for index in 0..<100 {
            expected += line(index)
            log.append(line(index))
        }
        let firstPart = expected
        #expect(try await eventually { (try? await Self.parts(context))?.flatMap(\.content) == firstPart }, "the first lines reached Redis")
        let beforeOutage = try await Self.parts(context)

        await server.kill()
        for index in 100..<3_000 {
            expected += line(index)
            log.append(line(index))
        }
        // Longer than the ~3 s (5 tries) after which the old stream dropped parts.
        try await Task.sleep(for: .seconds(4))
        let spilled = (try? FileManager.default.contentsOfDirectory(atPath: work + "/log-spill")) ?? []
        #expect(spilled.count == 1, "past 4 KiB the unsent log goes to disk: \(spilled)")

        try await server.start() // empty: it keeps no data across the restart
        await log.finish(trailer: "bye\n")
        let afterOutage = try await Self.parts(context)
        #expect(!afterOutage.isEmpty)

        // A batch cut by the kill may be sent twice (same numbers, same bytes): keep one of each.
        var byNumber: [Int: LogPart] = [:]
        for part in beforeOutage + afterOutage {
            if let seen = byNumber[part.number] { #expect(seen == part, "part \(part.number) resent differently") }
            byNumber[part.number] = part
        }
        let numbers = byNumber.keys.sorted()
        #expect(numbers == Array(0..<numbers.count), "no gap in the part numbers")
        let ordered = numbers.compactMap { byNumber[$0] }
        #expect(ordered.last?.final == true)
        #expect(ordered.dropLast().allSatisfy { !$0.final })
        #expect(ordered.flatMap(\.content) == expected + Array("bye\n".utf8), "every byte arrived, in order")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: work + "/log-spill")) ?? []).isEmpty, "spill file removed")
        print("log outage: \(ordered.count) parts, \(expected.count) bytes, \(afterOutage.count) sent after the restart")
        await context.close()
        await server.stop()
    }

    /// The job's last pipeline (the end of its log, its final state, the ack) waits out an outage
    /// longer than its first five tries instead of giving up.
    @Test(.timeLimit(.minutes(2)))
    func finalPipelineOutlastsAnOutage() async throws {
        let server = try PrivateRedis()
        try await server.start()
        let context = try await TestEnvironment.context(roles: [.worker]) { $0.redisURL = server.url }
        let queue = context.keys.queue("t")
        let reporter = StateReporter(context: context, job: 9, attempt: 1, queueStream: queue, entryID: "0-1")
        let lastPart = RedisClient.xaddCommand(context.keys.logs, fields: LogPart(job: 9, attempt: 1, number: 0, final: true,
                                                                                   content: Array("the end\n".utf8)).fields)
        await server.kill()
        let sending = Task {
            try await reporter.finalPipeline([lastPart], final: reporter.finishedEvent(.passed, reason: nil, receivedAt: nil, startedAt: nil))
        }
        try await Task.sleep(for: .seconds(4)) // past the five tries (about 3 s)
        try await server.start()
        // The restarted server is empty: the ack needs its group back (until then the pipeline fails and is retried).
        _ = try await eventually { (try? await context.redis.send(["XGROUP", "CREATE", RedisArgument(queue), RedisArgument(Groups.workers), "0", "MKSTREAM"])) != nil }
        try await sending.value
        let parts = try await Self.parts(context)
        #expect(parts.map(\.content) == [Array("the end\n".utf8)])
        #expect(try await context.redis.send(["XLEN", RedisArgument(context.keys.state)]).int == 1)
        await context.close()
        await server.stop()
    }

    static func parts(_ context: NodeContext) async throws -> [LogPart] {
        let stream = context.keys.logs
        let reply = try await context.redis.send(["XRANGE", RedisArgument(stream), "-", "+"])
        let entries = RedisClient.parseRead(.array([.array([.bulk(Array(stream.utf8)), reply])])).first?.entries ?? []
        return entries.compactMap(LogPart.init)
    }
}
