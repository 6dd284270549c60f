import ConveyorThreads
import Foundation
import Synchronization

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
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func set(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation.withLock { $0 = continuation }
    }

    func resume(_ result: Result<T, any Error>) {
        let waiting = continuation.withLock { continuation in
            defer { continuation = nil }
            return continuation
        }
        waiting?.resume(with: result)
    }
}
