import ConveyorRedis
import Foundation
import Synchronization

/// What a batch handler returns: entries to acknowledge now, and optionally entries whose last step
/// (`work`, e.g. Redis effects after a commit) runs while the consumer reads and handles the next
/// batch; those are acknowledged when `work` has run.
public struct StreamBatchResult: Sendable {
    public var done: [(stream: String, id: String)]
    public var deferred: [(stream: String, id: String)]
    public var work: (@Sendable () async -> Void)?

    public init(done: [(stream: String, id: String)], deferred: [(stream: String, id: String)] = [], work: (@Sendable () async -> Void)? = nil) {
        self.done = done
        self.deferred = deferred
        self.work = work
    }
}

/// Runs deferred batch work one batch at a time, in order, acknowledging each batch's entries after
/// its work. While a batch's work runs, its ids are "in flight": a re-read of the consumer's pending
/// entries skips them, so they are not handled twice.
final class DeferredAcks: Sendable {
    private struct State {
        var inFlight = Set<String>()
        /// The running batch's work, if any.
        var tail: Task<Void, Never>?
    }

    private let state = Mutex(State())
    private let redis: RedisClient
    private let group: String

    init(redis: RedisClient, group: String) {
        self.redis = redis
        self.group = group
    }

    /// Waits for the previous batch's work (so at most one batch is in flight while the next is
    /// handled), then starts this one's.
    func submit(_ ids: [(stream: String, id: String)], work: @escaping @Sendable () async -> Void) async {
        await drain()
        let redis = self.redis
        let group = self.group
        state.withLock { state in
            for id in ids { state.inFlight.insert(id.id) }
            state.tail = Task {
                await work()
                for stream in Set(ids.map(\.stream)) {
                    // A failed ack leaves the entries pending: re-read later, they are handled again
                    // (harmlessly: every handler is idempotent).
                    _ = try? await redis.xack(stream, group: group, ids: ids.filter { $0.stream == stream }.map(\.id))
                }
                self.finished(ids)
            }
        }
    }

    /// Waits until no batch work is running.
    func drain() async {
        let running = state.withLock { $0.tail }
        await running?.value
    }

    func isInFlight(_ id: String) -> Bool {
        state.withLock { $0.inFlight.contains(id) }
    }

    private func finished(_ ids: [(stream: String, id: String)]) {
        state.withLock { state in
            for id in ids { state.inFlight.remove(id.id) }
        }
    }
}
