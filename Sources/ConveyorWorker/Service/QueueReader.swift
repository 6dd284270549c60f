import ConveyorCore
import ConveyorRedis
import ConveyorThreads
import Foundation

/// Claims entries from the worker's queues, never more than `free` in one read.
///
/// `XREADGROUP COUNT n` applies per stream, so with several queues a blocking read over all of them is
/// only used when each can be given a share of the free slots; otherwise the queues are read one at a
/// time without blocking, starting from a rotating one so that no queue starves.
struct QueueReader: Sendable {
    let context: NodeContext
    let streams: [String]
    let connection: RedisConnection
    let blockMilliseconds: Int
    private let rotation = RoundRobin()

    init(context: NodeContext, streams: [String], connection: RedisConnection, blockMilliseconds: Int = 1000) {
        self.context = context
        self.streams = streams
        self.connection = connection
        self.blockMilliseconds = blockMilliseconds
    }

    func claim(free: Int) async throws -> [(stream: String, entry: StreamEntry)] {
        guard free > 0, !streams.isEmpty else { return [] }
        let consumer = context.settings.nodeID
        if free >= streams.count {
            let batch = try await connection.xreadgroupBlocking(group: Groups.workers, consumer: consumer, streams: streams,
                                                                count: free / streams.count, blockMilliseconds: blockMilliseconds)
            return batch.flatMap { item in item.entries.map { (item.stream, $0) } }
        }
        var claimed: [(stream: String, entry: StreamEntry)] = []
        let start = rotation.next()
        for offset in 0..<streams.count where claimed.count < free {
            let stream = streams[(start + offset) % streams.count]
            let batch = try await context.redis.xreadgroup(group: Groups.workers, consumer: consumer, streams: [stream],
                                                           count: free - claimed.count)
            claimed += batch.flatMap { item in item.entries.map { (item.stream, $0) } }
        }
        if claimed.isEmpty { try? await Task.sleep(for: .milliseconds(200)) }
        return claimed
    }
}
