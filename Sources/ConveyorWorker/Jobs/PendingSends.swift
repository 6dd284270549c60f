import ConveyorRedis
import Synchronization

/// The attempt's early state updates (`received`, `started`), held for a moment: sent on their own
/// after `delay`, or, when the attempt ends first (a quick job), as the head of the final pipeline,
/// so a quick job costs one round trip for all its updates. The hub converges on any arrival order,
/// but the stream still reads in order: the final pipeline waits for a flush already on its way.
///
/// A flush keeps trying until Redis takes its updates (the hub ignores a repeated update: its
/// sequence number is not above the job's last), and never gives them up: when the attempt ends
/// first, the flush is cancelled and hands what it could not send to the final pipeline.
final class PendingSends: Sendable {
    private struct State {
        var unsent: [RedisCommand] = []
        /// Each flush returns the updates it could not send.
        var flushes: [Task<[RedisCommand], Never>] = []
    }

    private let state = Mutex(State())
    private let delay: Duration
    /// Sends a batch; false when it gave up (cancelled) without Redis taking it.
    private let send: @Sendable ([RedisCommand]) async -> Bool

    init(delay: Duration, send: @escaping @Sendable ([RedisCommand]) async -> Bool) {
        self.delay = delay
        self.send = send
    }

    func add(_ command: RedisCommand) {
        state.withLock { state in
            state.unsent.append(command)
            guard state.unsent.count == 1 else { return } // a flush is already scheduled for these
            let delay = self.delay
            state.flushes.append(Task { [weak self] in
                try? await Task.sleep(for: delay)
                // Cancelled while asleep: the final pipeline took the updates.
                guard !Task.isCancelled, let self else { return [] }
                let batch = self.takeUnsent()
                if batch.isEmpty { return [] }
                return await self.send(batch) ? [] : batch
            })
        }
    }

    /// The updates not sent yet, for the head of the final pipeline, once any flush already sending
    /// has finished (or given its updates back, in order, ahead of the ones never taken).
    func finalPrefix() async -> [RedisCommand] {
        let (taken, running) = state.withLock { state in
            defer { state = State() }
            return (state.unsent, state.flushes)
        }
        for flush in running { flush.cancel() }
        var returned: [RedisCommand] = []
        for flush in running { returned += await flush.value }
        return returned + taken
    }

    private func takeUnsent() -> [RedisCommand] {
        state.withLock { state in
            defer { state.unsent = [] }
            return state.unsent
        }
    }
}
