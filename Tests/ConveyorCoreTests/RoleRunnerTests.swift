import ConveyorCore
import ConveyorThreads
import Logging
import Synchronization
import Testing

@Suite("Role runner and backoff")
struct RoleRunnerTests {
    @Test func backoffDoublesUpToItsMaximumAndResets() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .milliseconds(500))
        #expect([backoff.next(), backoff.next(), backoff.next(), backoff.next(), backoff.next()]
            == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(500), .milliseconds(500)])
        backoff.reset()
        #expect(backoff.next() == .milliseconds(100))
    }

    /// Failures are counted and retried, a success resets, a `CancellationError` ends the loop.
    @Test func runsPassesRetriesFailuresAndStopsOnCancellation() async {
        let passes = Mutex(0)
        let failures = Mutex(0)
        let runner = RoleRunner("test pass", logger: Logger(label: "test"), backoff: Backoff(initial: .milliseconds(1), maximum: .milliseconds(2)),
                                onFailure: { _ in failures.withLock { $0 += 1 } })
        await runner.run {
            let n = passes.withLock { $0 += 1; return $0 }
            switch n {
            case 1, 2, 4: throw PassError()
            case 3: return
            default: throw CancellationError()
            }
        }
        #expect(passes.withLock { $0 } == 5)
        #expect(failures.withLock { $0 } == 3)
    }

    /// A cancelled task's runner stops without running another pass, even in a long wait.
    @Test func aCancelledRunnerStopsDuringItsWait() async {
        let passes = Mutex(0)
        let task = Task {
            await RoleRunner("slow sweep", logger: Logger(label: "test"), every: .seconds(3600)).run {
                passes.withLock { $0 += 1 }
            }
        }
        while passes.withLock({ $0 }) == 0 { await Task.yield() }
        task.cancel()
        await task.value
        #expect(passes.withLock { $0 } == 1)
    }

    struct PassError: Error {}
}
