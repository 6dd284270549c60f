import Dispatch
import Foundation
import Synchronization

/// One OS thread that runs submitted closures in order, off Swift's cooperative pool.
///
/// Every blocking C handle (hiredis, libpq, libssh2, libvirt, libcurl) is confined to one of these:
/// the handle is created, used and freed only inside closures passed to `run`, so it never sees two
/// threads. `async` callers suspend on a continuation while the thread works.
public final class DedicatedThread: Sendable {
    private let state = Mutex(State())
    /// Signalled once for each time the thread went to sleep and work (or a stop) arrived since.
    private let wake = DispatchSemaphore(value: 0)
    private let name: String

    private struct State: ~Copyable {
        var queue: [@Sendable () -> Void] = []
        var phase = Phase.running
    }

    private enum Phase {
        case running
        /// Waiting on `wake` for work.
        case sleeping
        /// Asked to stop: queued work finishes, nothing new is taken.
        case stopping
    }

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
        let (accepted, signal) = state.withLock { state -> (Bool, Bool) in
            switch state.phase {
            case .stopping: return (false, false)
            case .running:
                state.queue.append(job)
                return (true, false)
            case .sleeping:
                state.queue.append(job)
                state.phase = .running
                return (true, true)
            }
        }
        if signal { wake.signal() }
        return accepted
    }

    /// Lets queued work finish, then ends the thread. Further `run` calls fail.
    public func shutdown() {
        let signal = state.withLock { state -> Bool in
            defer { state.phase = .stopping }
            if case .sleeping = state.phase { return true }
            return false
        }
        if signal { wake.signal() }
    }

    /// Number of closures waiting to run (a gauge for pools choosing the least busy thread).
    public var backlog: Int {
        state.withLock { $0.queue.count }
    }

    private func loop() {
        while true {
            let batch = state.withLock { state -> [@Sendable () -> Void]? in
                if !state.queue.isEmpty {
                    defer { state.queue.removeAll(keepingCapacity: true) }
                    return state.queue
                }
                if case .stopping = state.phase { return nil }
                state.phase = .sleeping
                return []
            }
            guard let batch else { return }
            if batch.isEmpty {
                wake.wait()
                continue
            }
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
