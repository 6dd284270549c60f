import ConveyorRedis
import ConveyorTesting
import Foundation
import Testing

@Suite("Redis client: stream helpers")
struct RedisStreamTests {
    @Test func ensureGroupIsIdempotent() async throws {
        let redis = try await TestEnvironment.redis()
        let stream = uniquePrefix() + "stream"
        // MKSTREAM: the stream exists afterwards, empty.
        try await redis.ensureGroup(stream, group: "g")
        try await redis.ensureGroup(stream, group: "g")
        try await redis.ensureGroup(stream, group: "g", startID: "$")
        #expect(try await redis.xlen(stream) == 0)
        let groups = try await redis.xinfoGroups(stream)
        #expect(groups.map(\.name) == ["g"])
        try await redis.ensureGroup(stream, group: "h")
        #expect(Set(try await redis.xinfoGroups(stream).map(\.name)) == ["g", "h"])
        // Other errors are not swallowed.
        let plain = uniquePrefix() + "plain"
        try await redis.send("SET", RedisArgument(plain), "x")
        do {
            try await redis.ensureGroup(plain, group: "g")
            Issue.record("XGROUP CREATE on a string key must fail")
        } catch let error as RedisError {
            #expect(error.serverPrefix == "WRONGTYPE")
        }
        #expect(try await redis.xinfoGroups(uniquePrefix() + "nothing").isEmpty)
        try await redis.send("DEL", RedisArgument(stream), RedisArgument(plain))
        await redis.close()
    }

    @Test func xaddTrimAndReadGroup() async throws {
        let redis = try await TestEnvironment.redis()
        let stream = uniquePrefix() + "stream"
        try await redis.ensureGroup(stream, group: "g")
        let payload: [UInt8] = [0, 1, 2, 255]
        let id = try await redis.xadd(stream, fields: [("kind", "job"), ("blob", RedisArgument(bytes: payload))])
        #expect(id.contains("-"))
        let read = try await redis.xreadgroup(group: "g", consumer: "a", streams: [stream], count: 10)
        #expect(read.count == 1)
        #expect(read.first?.stream == stream)
        #expect(read.first?.entries.map(\.id) == [id])
        #expect(read.first?.entries.first?.string("kind") == "job")
        #expect(read.first?.entries.first?.fields?["blob"] == payload)
        // Nothing new for ">"; the pending entry comes back with "0".
        #expect(try await redis.xreadgroup(group: "g", consumer: "a", streams: [stream], count: 10).allSatisfy { $0.entries.isEmpty })
        #expect(try await redis.xreadgroup(group: "g", consumer: "a", streams: [stream], id: "0", count: 10).first?.entries.map(\.id) == [id])
        #expect(try await redis.xack(stream, group: "g", ids: [id]) == 1)
        #expect(try await redis.xack(stream, group: "g", ids: []) == 0)
        #expect(try await redis.xreadgroup(group: "g", consumer: "a", streams: [stream], id: "0", count: 10).first?.entries.isEmpty ?? true)

        // MAXLEN ~ keeps roughly the bound; MINID drops what is older.
        for i in 0..<300 { try await redis.xadd(stream, fields: [("i", RedisArgument(i))], trim: .maxLenApprox(100)) }
        let length = try await redis.xlen(stream)
        #expect(length >= 100 && length < 301)
        let last = try await redis.xadd(stream, fields: [("i", "last")], trim: .minID("9999999999999-0"))
        #expect(!last.isEmpty)
        #expect(try await redis.xlen(stream) == 0)
        try await redis.send("DEL", RedisArgument(stream))
        await redis.close()
    }

    /// An entry deleted from the stream while pending: XAUTOCLAIM reports it in its third part and
    /// Redis drops it from the PEL.
    @Test func xautoclaimOverDeletedEntry() async throws {
        let redis = try await TestEnvironment.redis()
        let stream = uniquePrefix() + "stream"
        try await redis.ensureGroup(stream, group: "g")
        let kept = try await redis.xadd(stream, fields: [("n", "1")])
        let deleted = try await redis.xadd(stream, fields: [("n", "2")])
        let read = try await redis.xreadgroup(group: "g", consumer: "A", streams: [stream], count: 10)
        #expect(read.first?.entries.map(\.id) == [kept, deleted])
        #expect(try await redis.send("XDEL", RedisArgument(stream), RedisArgument(deleted)) == .integer(1))
        #expect(Set(try await redis.xpending(stream, group: "g").map(\.id)) == [kept, deleted])

        let batch = try await redis.xautoclaim(stream, group: "g", consumer: "B", minIdleMilliseconds: 0)
        #expect(batch.deletedIDs == [deleted])
        #expect(batch.claimed.map(\.id) == [kept])
        #expect(batch.claimed.first?.string("n") == "1")
        #expect(batch.nextCursor == "0-0")

        let pending = try await redis.xpending(stream, group: "g")
        #expect(pending.map(\.id) == [kept])
        #expect(pending.first?.consumer == "B")
        #expect(pending.first?.deliveries == 2)
        let summary = try await redis.xpendingSummary(stream, group: "g")
        #expect(summary.count == 1)
        #expect(summary.consumers == ["B": 1])
        try await redis.send("DEL", RedisArgument(stream))
        await redis.close()
    }

    /// More than one batch of pending entries: `xautoclaimAll` follows the cursor to the end, and
    /// reports deleted ids found along the way.
    @Test func xautoclaimAllLoopsOverTheCursor() async throws {
        let redis = try await TestEnvironment.redis()
        let stream = uniquePrefix() + "stream"
        try await redis.ensureGroup(stream, group: "g")
        let total = 250
        let replies = try await redis.pipeline((0..<total).map { RedisClient.xaddCommand(stream, fields: [("i", RedisArgument($0))]) })
        let ids = replies.compactMap(\.string)
        #expect(ids.count == total)
        let read = try await redis.xreadgroup(group: "g", consumer: "A", streams: [stream], count: total)
        #expect(read.first?.entries.count == total)
        let removed = stride(from: 5, to: total, by: 25).map { ids[$0] }
        try await redis.send(["XDEL", RedisArgument(stream)] + removed.map { RedisArgument($0) })

        var claimed: [String] = []
        var deletedIDs: [String] = []
        var batches = 0
        try await redis.xautoclaimAll(stream, group: "g", consumer: "B", minIdleMilliseconds: 0, count: 40) { batch in
            batches += 1
            claimed += batch.claimed.map(\.id)
            deletedIDs += batch.deletedIDs
        }
        #expect(batches >= 5)
        #expect(Set(deletedIDs) == Set(removed))
        #expect(claimed.count == total - removed.count)
        #expect(Set(claimed) == Set(ids).subtracting(removed))
        let summary = try await redis.xpendingSummary(stream, group: "g")
        #expect(summary.count == total - removed.count)
        #expect(summary.consumers == ["B": total - removed.count])
        try await redis.send("DEL", RedisArgument(stream))
        await redis.close()
    }

    @Test func xpendingSummaryAndExtended() async throws {
        let redis = try await TestEnvironment.redis()
        let stream = uniquePrefix() + "stream"
        try await redis.ensureGroup(stream, group: "g")
        let empty = try await redis.xpendingSummary(stream, group: "g")
        #expect(empty.count == 0)
        #expect(empty.smallestID == nil)
        #expect(empty.consumers.isEmpty)
        #expect(try await redis.xpending(stream, group: "g").isEmpty)

        var ids: [String] = []
        for i in 0..<3 { ids.append(try await redis.xadd(stream, fields: [("i", RedisArgument(i))])) }
        _ = try await redis.xreadgroup(group: "g", consumer: "A", streams: [stream], count: 2)
        _ = try await redis.xreadgroup(group: "g", consumer: "B", streams: [stream], count: 2)

        let summary = try await redis.xpendingSummary(stream, group: "g")
        #expect(summary.count == 3)
        #expect(summary.smallestID == ids[0])
        #expect(summary.largestID == ids[2])
        #expect(summary.consumers == ["A": 2, "B": 1])

        let all = try await redis.xpending(stream, group: "g")
        #expect(all.map(\.id) == ids)
        #expect(all.map(\.consumer) == ["A", "A", "B"])
        #expect(all.allSatisfy { $0.deliveries == 1 && $0.idleMilliseconds >= 0 })
        #expect(try await redis.xpending(stream, group: "g", consumer: "B").map(\.id) == [ids[2]])
        #expect(try await redis.xpending(stream, group: "g", count: 1).map(\.id) == [ids[0]])
        #expect(try await redis.xpending(stream, group: "g", start: ids[1]).map(\.id) == [ids[1], ids[2]])

        try await Task.sleep(for: .milliseconds(150))
        #expect(try await redis.xpending(stream, group: "g", minIdleMilliseconds: 100).count == 3)
        #expect(try await redis.xpending(stream, group: "g", minIdleMilliseconds: 600_000).isEmpty)

        // XCLAIM … JUSTID moves ownership without bumping the delivery count.
        #expect(try await redis.xclaimJustID(stream, group: "g", consumer: "B", minIdleMilliseconds: 0, ids: [ids[0]]) == [ids[0]])
        #expect(try await redis.xpendingSummary(stream, group: "g").consumers == ["A": 1, "B": 2])
        let groups = try await redis.xinfoGroups(stream)
        #expect(groups.first?.pending == 3)
        #expect(groups.first?.consumers == 2)
        #expect(groups.first?.lastDeliveredID == ids[2])
        try await redis.send("DEL", RedisArgument(stream))
        await redis.close()
    }

    /// A blocking XREADGROUP on a dedicated connection wakes up when an entry is added later, from
    /// another connection; the pool is not held meanwhile. A block that timed out would return no
    /// entries, so reading the entry proves the wake-up (no wall-clock assertion: a loaded CI machine
    /// must not fail it).
    @Test func blockingReadOnDedicatedConnection() async throws {
        let redis = try await TestEnvironment.redis()
        let stream = uniquePrefix() + "stream"
        try await redis.ensureGroup(stream, group: "g", startID: "$")
        let connection = redis.dedicatedConnection(name: "test-blocking")
        let reader = Task {
            try await connection.xreadgroupBlocking(group: "g", consumer: "c", streams: [stream], count: 10, blockMilliseconds: 60_000)
        }
        try await Task.sleep(for: .milliseconds(300))
        // The pool still answers while the dedicated connection blocks.
        #expect(try await redis.send("PING") == .simple("PONG"))
        let id = try await redis.xadd(stream, fields: [("hello", "world")])
        let read = try await reader.value
        #expect(read.first?.entries.map(\.id) == [id])
        #expect(read.first?.entries.first?.string("hello") == "world")

        // A block that times out returns no entries (not an error).
        let nothing = try await connection.xreadgroupBlocking(group: "g", consumer: "c", streams: [stream], count: 10, blockMilliseconds: 200)
        #expect(nothing.allSatisfy { $0.entries.isEmpty })
        await connection.close()
        try await redis.send("DEL", RedisArgument(stream))
        await redis.close()
    }
}
