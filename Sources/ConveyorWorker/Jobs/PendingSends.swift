import ConveyorRedis
import Foundation

/// The attempt's early state updates (`received`, `started`), held for a moment: sent on their own
/// after `delay`, or, when the attempt ends first (a quick job), as the head of the final pipeline,
/// so a quick job costs one round trip for all its updates. The hub converges on any arrival order,
/// but the stream still reads in order: the final pipeline waits for a flush already on its way.
final class PendingSends: @unchecked Sendable {
    // @unchecked Sendable: `unsent` and `flushes` are only touched with `lock` held.
    private let lock = NSLock()
    private var unsent: [RedisCommand] = []
    private var flushes: [Task<Void, Never>] = []
    private let delay: Duration
    private let send: @Sendable ([RedisCommand]) async -> Void

    init(delay: Duration, send: @escaping @Sendable ([RedisCommand]) async -> Void) {
        self.delay = delay
        self.send = send
    }

    func add(_ command: RedisCommand) {
        lock.withLock {
            unsent.append(command)
            guard unsent.count == 1 else { return } // a flush is already scheduled for these
            let delay = self.delay
            flushes.append(Task { [weak self] in
                try? await Task.sleep(for: delay)
                // Cancelled while asleep: the final pipeline took the updates.
                guard !Task.isCancelled, let self else { return }
                let batch = self.takeUnsent()
                if !batch.isEmpty { await self.send(batch) }
            })
        }
    }

    /// The updates not sent yet, for the head of the final pipeline, once any flush already sending
    /// has finished.
    func finalPrefix() async -> [RedisCommand] {
        let (taken, running) = lock.withLock { () -> ([RedisCommand], [Task<Void, Never>]) in
            defer {
                unsent = []
                flushes = []
            }
            return (unsent, flushes)
        }
        for flush in running { flush.cancel() }
        for flush in running { await flush.value }
        return taken
    }

    private func takeUnsent() -> [RedisCommand] {
        lock.withLock {
            defer { unsent = [] }
            return unsent
        }
    }
}
