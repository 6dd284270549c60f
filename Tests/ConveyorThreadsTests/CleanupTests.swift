import ConveyorThreads
import Synchronization
import Testing

@Suite("withCleanup")
struct CleanupTests {
    struct BodyError: Error {}

    /// Steps recorded in order, from any task.
    final class Steps: Sendable {
        private let steps = Mutex<[String]>([])
        func add(_ step: String) { steps.withLock { $0.append(step) } }
        var all: [String] { steps.withLock { $0 } }
    }

    @Test func cleanupIsDoneBeforeTheValueIsReturned() async throws {
        let steps = Steps()
        let value = try await withCleanup {
            steps.add("body")
            return 7
        } cleanup: {
            await Task.yield()
            steps.add("cleanup")
        }
        steps.add("after")
        #expect(value == 7)
        #expect(steps.all == ["body", "cleanup", "after"])
    }

    @Test func cleanupIsDoneBeforeTheErrorIsRethrown() async {
        let steps = Steps()
        await #expect(throws: BodyError.self) {
            try await withCleanup {
                steps.add("body")
                throw BodyError()
            } cleanup: {
                await Task.yield()
                steps.add("cleanup")
            }
        }
        steps.add("after")
        #expect(steps.all == ["body", "cleanup", "after"])
    }

    /// A cancelled caller's cleanup still runs in full: it does not see the cancellation.
    @Test func cleanupRunsInFullForACancelledCaller() async {
        let steps = Steps()
        let task = Task {
            try await withCleanup {
                withUnsafeCurrentTask { $0?.cancel() }
                try Task.checkCancellation()
            } cleanup: {
                steps.add(Task.isCancelled ? "cleanup saw cancellation" : "cleanup")
            }
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(steps.all == ["cleanup"])
    }
}
