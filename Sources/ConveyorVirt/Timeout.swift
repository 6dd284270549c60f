import ConveyorThreads
import Foundation

extension DedicatedThread {
    /// Runs `body` on this thread, giving up waiting after `timeout`. A blocking C call cannot be
    /// cancelled: on timeout the caller gets an error while the call finishes in the background (and
    /// later calls queue behind it).
    func run<T: Sendable>(
        timeout: Duration, _ what: String, _ body: @escaping @Sendable () throws -> T
    ) async throws -> T {
        let once = ResumeOnce<T>()
        return try await withCheckedThrowingContinuation { continuation in
            once.set(continuation)
            let timer = Task {
                do { try await Task.sleep(for: timeout) } catch { return }
                once.resume(.failure(VirtError("\(what): no answer within \(timeout)")))
            }
            let accepted = submit {
                once.resume(Result { try body() })
                timer.cancel()
            }
            if !accepted {
                timer.cancel()
                once.resume(.failure(VirtError("\(what): connection closed")))
            }
        }
    }
}

/// Resumes a continuation at most once, whichever of result and timeout comes first.
private final class ResumeOnce<T: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `continuation` is only touched with `lock` held.
    private let lock = NSLock()
    private var continuation: CheckedContinuation<T, any Error>?

    func set(_ continuation: CheckedContinuation<T, any Error>) {
        lock.lock()
        self.continuation = continuation
        lock.unlock()
    }

    func resume(_ result: Result<T, any Error>) {
        lock.lock()
        let waiting = continuation
        continuation = nil
        lock.unlock()
        waiting?.resume(with: result)
    }
}
