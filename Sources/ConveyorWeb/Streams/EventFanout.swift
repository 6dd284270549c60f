import ConveyorCore
import ConveyorRedis
import ConveyorThreads
import Foundation
import HTTPTypes
import ServiceLifecycle
import Synchronization

/// A live stream's end of the fan-out: its events, and whether it ended because it fell behind.
/// Dropping the last reference (the stream's response ended, or was never written) removes it
/// from the fan-out at once.
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
        fanout.remove(id)
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
///
/// The subscriber table is in a `Mutex` (never held across an await), so a subscription that goes
/// away leaves the table synchronously and its place counts against the bound no longer.
final class EventFanout: Sendable {
    private let subscribers = Mutex<[UUID: SubscriberState]>([:])
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
        let subscription = StreamSubscription(filter: filter, buffer: buffer, fanout: self)
        let admitted = subscribers.withLock { subscribers -> Bool in
            guard subscribers.count < limit else { return false }
            subscribers[subscription.id] = subscription.state
            return true
        }
        guard admitted else {
            throw APIError(.serviceUnavailable, "this node serves its maximum of \(limit) live streams (max_stream_subscribers); retry later",
                           headers: [.retryAfter: "5"])
        }
        return subscription
    }

    func remove(_ id: UUID) {
        subscribers.withLock { $0.removeValue(forKey: id) }?.continuation.finish()
    }

    private func broadcast(_ events: [FanoutEvent]) {
        // Offered outside the lock: a subscription whose last reference goes meanwhile removes itself.
        let current = subscribers.withLock { $0 }
        var full: [UUID] = []
        for (id, subscription) in current {
            for event in events where subscription.filter.accepts(event) {
                if !subscription.offer(event) { full.append(id); break }
            }
        }
        if !full.isEmpty {
            subscribers.withLock { subscribers in
                for id in full { subscribers.removeValue(forKey: id) }
            }
        }
    }

    var subscriberCount: Int { subscribers.withLock { $0.count } }
    private var needsVisibility: Bool { subscribers.withLock { $0.values.contains { $0.filter.needsVisibility } } }

    /// The reader loop; runs for the life of the web role (`RoleRunner`: a failed read is logged and
    /// retried after a backoff, while idle streams still get their keep-alive ticks). It starts after
    /// the newest entry (`$`); tests start from an id to see every event they publish.
    func run(from start: String = "$") async {
        let connection = context.redis.dedicatedConnection(name: "events-fanout")
        var visibility = RepoVisibility(context: context)
        var last = start
        var lastTick = ContinuousClock.now
        await RoleRunner("event fan-out read", logger: context.logger, backoff: Backoff(initial: .seconds(1), maximum: .seconds(5))).run {
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
                if needsVisibility {
                    await visibility.annotate(&events, refresh: tick)
                }
                if tick {
                    events.append(.tick)
                    lastTick = .now
                }
                if !events.isEmpty { broadcast(events) }
            } catch {
                broadcast([.tick])
                throw error
            }
        }
        await connection.close()
        closeAll()
    }

    private func closeAll() {
        let closing = subscribers.withLock { subscribers in
            defer { subscribers.removeAll() }
            return subscribers
        }
        for subscription in closing.values { subscription.continuation.finish() }
    }
}
