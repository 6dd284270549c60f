import ConveyorCore
import ConveyorThreads
import ConveyorRedis
import Foundation
import ServiceLifecycle

/// One event read from `cv:events`.
struct FanoutEvent: Sendable {
    var id: String
    var type: String
    var data: [UInt8]
    /// Parsed `data`, for filtering by job or build.
    var fields: [String: any Sendable] {
        (try? JSONSerialization.jsonObject(with: Data(data)) as? [String: any Sendable]) ?? [:]
    }
    static let tick = FanoutEvent(id: "", type: "tick", data: [])
}

/// Every web node reads `cv:events` once (XREAD, no group) and hands each event to its local
/// subscribers: SSE and WebSocket clients. A tick every few seconds lets idle streams send
/// keep-alives and re-check state.
actor EventFanout {
    private var subscribers: [UUID: AsyncStream<FanoutEvent>.Continuation] = [:]
    let context: NodeContext

    init(context: NodeContext) { self.context = context }

    func subscribe() -> (UUID, AsyncStream<FanoutEvent>) {
        let id = UUID()
        let (stream, continuation) = AsyncStream<FanoutEvent>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        subscribers[id] = continuation
        return (id, stream)
    }

    func unsubscribe(_ id: UUID) {
        subscribers.removeValue(forKey: id)?.finish()
    }

    private func broadcast(_ events: [FanoutEvent]) {
        for continuation in subscribers.values {
            for event in events { continuation.yield(event) }
        }
    }

    var subscriberCount: Int { subscribers.count }

    /// The reader loop; runs for the life of the web role.
    nonisolated func run() async {
        let connection = context.redis.dedicatedConnection(name: "events-fanout")
        var last = "$"
        var lastTick = ContinuousClock.now
        // A failed read is followed by a tick (clients see the stream is alive) and a 1 s wait.
        await RoleRunner("event fan-out read", logger: context.logger, backoff: Backoff(initial: .seconds(1), maximum: .seconds(1))).run {
            do {
                if last == "$" {
                    // Start from the newest entry so nothing published after this point is missed.
                    let newest = try await connection.send(["XREVRANGE", RedisArgument(context.keys.events), "+", "-", "COUNT", "1"])
                    last = newest.array?.first?.array?.first?.string ?? "0-0"
                }
                let batch = try await connection.xreadBlocking(streams: [(context.keys.events, last)], count: 500, blockMilliseconds: 2000)
                var events: [FanoutEvent] = []
                for stream in batch {
                    for entry in stream.entries {
                        last = entry.id
                        events.append(FanoutEvent(id: entry.id, type: entry.string("type") ?? "", data: entry.fields?["data"] ?? []))
                    }
                }
                if ContinuousClock.now - lastTick > .seconds(5) {
                    events.append(.tick)
                    lastTick = .now
                }
                if !events.isEmpty { await broadcast(events) }
            } catch {
                await broadcast([.tick])
                throw error
            }
        }
        await connection.close()
        for id in await subscribers.keys { await unsubscribe(id) }
    }
}
