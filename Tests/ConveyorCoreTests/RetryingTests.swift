import ConveyorCore
import ConveyorThreads
import Logging
import Synchronization
import Testing

@Suite("Retrying")
struct RetryingTests {
    struct SendError: Error {}
    struct BadInput: Error {}

    private static func retrying(_ limit: Retrying.Limit, retryable: @escaping @Sendable (any Error) -> Bool = { _ in true }) -> Retrying {
        Retrying("test send", logger: Logger(label: "test"), limit: limit,
                 backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(2)), retryable: retryable)
    }

    @Test func triesUntilItSucceeds() async throws {
        let tries = Mutex(0)
        let value = try await Self.retrying(.tries(5)).run { () async throws -> Int in
            let n = tries.withLock { $0 += 1; return $0 }
            if n < 3 { throw SendError() }
            return n
        }
        #expect(value == 3)
    }

    @Test func givesUpAfterItsTriesWithTheLastError() async {
        let tries = Mutex(0)
        await #expect(throws: SendError.self) {
            try await Self.retrying(.tries(3)).run { tries.withLock { $0 += 1 }; throw SendError() }
        }
        #expect(tries.withLock { $0 } == 3)
    }

    @Test func anErrorNotWorthRetryingIsThrownAtOnce() async {
        let tries = Mutex(0)
        await #expect(throws: BadInput.self) {
            try await Self.retrying(.tries(3), retryable: { !($0 is BadInput) }).run { tries.withLock { $0 += 1 }; throw BadInput() }
        }
        #expect(tries.withLock { $0 } == 1)
    }

    /// `untilCancelled` keeps trying past `atLeast` while the task runs, and stops once it is
    /// cancelled (after at least `atLeast` tries in all).
    @Test func untilCancelledStopsOnCancellation() async {
        let tries = Mutex(0)
        let task = Task {
            try await Self.retrying(.untilCancelled(atLeast: 2)).run { tries.withLock { $0 += 1 }; throw SendError() }
        }
        while tries.withLock({ $0 }) < 10 { await Task.yield() }
        task.cancel()
        await #expect(throws: SendError.self) { try await task.value }
        #expect(tries.withLock { $0 } >= 10)
    }
}
