import ConveyorCore
import ConveyorRedis
import Foundation
import HTTPTypes
import ServiceLifecycle
import Synchronization

/// A live stream's end of the fan-out: its events, and whether it ended because it fell behind.
/// Dropping the last reference (the client went away) removes it from the fan-out.
final class StreamSubscription: Sendable {
    let id = UUID()
    let events: AsyncStream<FanoutEvent>
    let state: SubscriberState
    private let fanout: EventFanout

    init(filter: StreamFilter, buffer: Int, fanout: EventFanout) {
        let (events, continuation) = AsyncStream<FanoutEvent>.makeStream(bufferingPolicy: .bufferingOldest(buffer))
        self.events = events
        self.state = SubscriberState(continuation: continuation, filter: filter)
        self.fanout = fanout
    }

    /// True when the stream ended because its buffer was full: the client must reconnect (and
    /// resume with `Last-Event-ID` where the stream has ids).
    var overflowed: Bool { state.overflowed }

    deinit {
        state.continuation.finish()
        let (fanout, id) = (fanout, id)
        Task { await fanout.remove(id) }
    }
}

/// The fan-out's side of a subscription (no reference back to it, so no cycle).
final class SubscriberState: Sendable {
    let continuation: AsyncStream<FanoutEvent>.Continuation
    let filter: StreamFilter
    private let overflow = Atomic<Bool>(false)

    init(continuation: AsyncStream<FanoutEvent>.Continuation, filter: StreamFilter) {
        self.continuation = continuation
        self.filter = filter
    }

    var overflowed: Bool { overflow.load(ordering: .acquiring) }

    /// Hands one event over; false when the buffer was full and the stream was ended.
    func offer(_ event: FanoutEvent) -> Bool {
        if case .dropped = continuation.yield(event) {
            overflow.store(true, ordering: .releasing)
            continuation.finish()
            return false
        }
        return true
    }
}

/// Every web node reads `cv:events` once (XREAD, no group) and hands each event to the local
/// subscribers whose filter accepts it: SSE and WebSocket clients. At most
/// `max_stream_subscribers` at once, each with a buffer of `stream_buffer_events`; a subscriber
/// that falls that far behind is ended with a final `reconnect` event (docs/api.md#live-streams).
/// A tick every few seconds lets idle streams send keep-alives and re-check state.
actor EventFanout {
    private var subscribers: [UUID: SubscriberState] = [:]
    let context: NodeContext
    let limit: Int
    let buffer: Int

    init(context: NodeContext) {
        self.context = context
        self.limit = context.settings.maxStreamSubscribers
        self.buffer = context.settings.streamBufferEvents
    }

    /// A new subscription, or 503 when this node already serves `max_stream_subscribers`.
    func subscribe(_ filter: StreamFilter) throws -> StreamSubscription {
        guard subscribers.count < limit else {
            throw APIError(.serviceUnavailable, "this node serves its maximum of \(limit) live streams (max_stream_subscribers); retry later",
                           headers: [.retryAfter: "5"])
        }
        let subscription = StreamSubscription(filter: filter, buffer: buffer, fanout: self)
        subscribers[subscription.id] = subscription.state
        return subscription
    }

    func remove(_ id: UUID) {
        subscribers.removeValue(forKey: id)?.continuation.finish()
    }

    private func broadcast(_ events: [FanoutEvent]) {
        var full: [UUID] = []
        for (id, subscription) in subscribers {
            for event in events where subscription.filter.accepts(event) {
                if !subscription.offer(event) { full.append(id); break }
            }
        }
        for id in full { subscribers.removeValue(forKey: id) }
    }

    var subscriberCount: Int { subscribers.count }
    private var needsVisibility: Bool { subscribers.values.contains { $0.filter.needsVisibility } }

    /// The reader loop; runs for the life of the web role. It starts after the newest entry
    /// (`$`); tests start from an id to see every event they publish.
    nonisolated func run(from start: String = "$") async {
        let connection = context.redis.dedicatedConnection(name: "events-fanout")
        var visibility = RepoVisibility(context: context)
        var last = start
        var lastTick = ContinuousClock.now
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
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
                let tick = ContinuousClock.now - lastTick > .seconds(5)
                if await needsVisibility {
                    await visibility.annotate(&events, refresh: tick)
                }
                if tick {
                    events.append(.tick)
                    lastTick = .now
                }
                if !events.isEmpty { await broadcast(events) }
            } catch {
                context.logger.warning("event fan-out read failed; retrying", metadata: ["error": "\(error)"])
                await broadcast([.tick])
                try? await Task.sleep(for: .seconds(1))
            }
        }
        await connection.close()
        await closeAll()
    }

    private func closeAll() {
        for subscription in subscribers.values { subscription.continuation.finish() }
        subscribers.removeAll()
    }
}
