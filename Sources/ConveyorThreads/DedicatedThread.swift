import Foundation

/// One OS thread that runs submitted closures in order, off Swift's cooperative pool.
///
/// Every blocking C handle (hiredis, libpq, libssh2, libvirt, libcurl) is confined to one of these:
/// the handle is created, used and freed only inside closures passed to `run`, so it never sees two
/// threads. `async` callers suspend on a continuation while the thread works.
public final class DedicatedThread: @unchecked Sendable {
    // @unchecked Sendable: `queue` and `stopped` are only touched with `condition` held.
    private let condition = NSCondition()
    private var queue: [@Sendable () -> Void] = []
    private var stopped = false
    private let name: String

    public init(name: String) {
        self.name = name
        // The thread's closure keeps `self` alive until `shutdown()` lets the loop end.
        let thread = Thread { self.loop() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Runs `body` on this thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let accepted = submit {
                do { continuation.resume(returning: try body()) } catch { continuation.resume(throwing: error) }
            }
            if !accepted { continuation.resume(throwing: DedicatedThreadError.stopped(name)) }
        }
    }

    /// Runs `body` on this thread; non-throwing variant.
    public func run<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T? {
        try? await run { () throws -> T in body() }
    }

    /// Enqueues `job`; returns false once the thread has been asked to stop.
    @discardableResult
    public func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if stopped { return false }
        queue.append(job)
        condition.signal()
        return true
    }

    /// Lets queued work finish, then ends the thread. Further `run` calls fail.
    public func shutdown() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    /// Number of closures waiting to run (a gauge for pools choosing the least busy thread).
    public var backlog: Int {
        condition.lock()
        defer { condition.unlock() }
        return queue.count
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if queue.isEmpty && stopped {
                condition.unlock()
                return
            }
            let batch = queue
            queue.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job() }
        }
    }
}

public enum DedicatedThreadError: Error, CustomStringConvertible {
    case stopped(String)
    public var description: String {
        switch self {
        case .stopped(let name): return "thread \(name) has been shut down"
        }
    }
}
