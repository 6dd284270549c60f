import Foundation
import Synchronization

/// Runs config expansion (YAML, matrix, conditions, regexes) on a thread of its own, never on the
/// threads that serve HTTP and read PostgreSQL, within a time budget. Past the budget the caller gets
/// nil at once; the thread is left to finish on its own (every step of an expansion is bounded by
/// `ConfigLimits` and the regex limits, so it does end) and its result is dropped. A result that
/// arrives after the budget (its timer not yet fired on a busy node) counts as too late too.
enum ConfigEvaluator {
    static func run<T: Sendable>(budget: Duration, _ body: @escaping @Sendable () -> T) async -> T? {
        let race = Race<T>()
        return await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
            race.start(continuation)
            let timer = Task {
                try? await Task.sleep(for: budget)
                if !Task.isCancelled { race.finish(nil) }
            }
            let started = ContinuousClock.now
            let thread = Thread {
                let value = body()
                race.finish(ContinuousClock.now - started > budget ? nil : value)
                timer.cancel()
            }
            thread.name = "config-eval"
            thread.stackSize = 4 << 20
            thread.start()
        }
    }

    /// The first of the thread and the timer resumes the caller; the other finds nothing to resume.
    private final class Race<T: Sendable>: Sendable {
        private let waiting = Mutex<CheckedContinuation<T?, Never>?>(nil)

        func start(_ continuation: CheckedContinuation<T?, Never>) {
            waiting.withLock { $0 = continuation }
        }

        func finish(_ value: T?) {
            let continuation = waiting.withLock { waiting -> CheckedContinuation<T?, Never>? in
                defer { waiting = nil }
                return waiting
            }
            continuation?.resume(returning: value)
        }
    }
}
