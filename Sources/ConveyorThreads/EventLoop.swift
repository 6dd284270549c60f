import CEpoll
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Told by an `EventLoop`, on the loop's thread, that a file descriptor it watches is ready.
public protocol EventLoopWatcher: AnyObject, Sendable {
    /// `events` are epoll's bits (`EPOLLIN`, `EPOLLOUT`, `EPOLLERR`, `EPOLLHUP`).
    func ready(_ events: UInt32)
}

/// One thread that runs Swift jobs and waits in `epoll` for the sockets it watches: the shape of
/// `pgbench`'s threads and of a NIO event loop. The Postgres client reads its results on these
/// (`StatementLoop`); a task that prefers the loop as its executor (`PostgresClient.executor`) is
/// resumed by its result on the thread that read it and sends its next request from there.
///
/// It is a `TaskExecutor` only: Swift's global executor stays Swift's own (see bench/README.md,
/// "Executor"). Like any event loop, what runs here must not block: a job that blocks or computes
/// for long delays every socket of the loop.
///
/// Jobs run in rounds between `epoll` waits (a round: the jobs queued when it starts); while jobs
/// are queued the loop only polls (timeout 0), so sockets are read between rounds and never starve
/// behind busy tasks.
public final class EventLoop: TaskExecutor {
    public let name: String
    private let epoll: Int32
    /// An eventfd that wakes the loop from `epoll_wait` (new jobs, stop).
    private let wakeFD: Int32
    private static let wakeToken = UInt64.max
    private let state = Mutex(State())

    /// What the loop's thread and its callers share.
    private struct State: ~Copyable {
        /// Queued jobs from `head` on.
        var jobs: [UnownedJob] = []
        var head = 0
        var taken = 0
        /// The loop is in (or about to enter) an `epoll_wait` without timeout: enqueuing must wake it.
        var waiting = false
        var phase = Phase.running
        var watchers: [UInt64: any EventLoopWatcher] = [:]
        var nextToken: UInt64 = 0

        var queued: Int { jobs.count - head }

        mutating func next() -> UnownedJob? {
            guard head < jobs.count else { return nil }
            let job = jobs[head]
            head += 1
            taken += 1
            if head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
            }
            return job
        }
    }

    private enum Phase {
        case running
        /// `stop()` was called; the continuation resumes once the thread has ended.
        case stopping(CheckedContinuation<Void, Never>)
        /// The thread has ended: jobs go on elsewhere.
        case exited
    }

    /// A loop with its own thread, started at once.
    public init(name: String) {
        self.name = name
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "epoll_create1 failed: \(String(cString: strerror(errno)))")
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(wakeFD >= 0, "eventfd failed: \(String(cString: strerror(errno)))")
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakeToken
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeFD, &event)
        // The thread's closure keeps `self` alive until the loop ends.
        let thread = Thread { self.run() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit {
        close(epoll)
        close(wakeFD)
    }

    /// The loop whose thread is running the caller, if any.
    public static var current: EventLoop? {
        pthread_getspecific(currentLoopKey).map { Unmanaged<EventLoop>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Whether the caller runs on this loop's thread.
    public var inLoop: Bool { pthread_getspecific(currentLoopKey) == Unmanaged.passUnretained(self).toOpaque() }

    // MARK: - Jobs

    /// A job of a task that prefers this loop (`TaskExecutor`). Wakes the loop if it waits; once
    /// the loop has stopped, the job goes on elsewhere rather than never run.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let wake: Bool? = state.withLock { state in
            if case .exited = state.phase { return nil }
            state.jobs.append(job)
            defer { state.waiting = false }
            return state.waiting
        }
        switch wake {
        case nil:
            let executor = asUnownedTaskExecutor()
            DispatchQueue.global().async { job.runSynchronously(on: executor) }
        case true?:
            signal()
        case false?:
            break
        }
    }

    /// Jobs this loop has taken from its queue to run.
    public var jobsRun: Int { state.withLock { $0.taken } }

    private func signal() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: - File descriptors

    /// A token for `watch`: events for it go to `watcher`, on this loop's thread, until `unregister`.
    public func register(_ watcher: any EventLoopWatcher) -> UInt64 {
        state.withLock { state in
            state.nextToken += 1
            state.watchers[state.nextToken] = watcher
            return state.nextToken
        }
    }

    /// No further events reach the watcher of `token` (one already harvested may still, once).
    public func unregister(_ token: UInt64) {
        _ = state.withLock { $0.watchers.removeValue(forKey: token) }
    }

    /// Watches `fd` for the watcher of `token`, edge-triggered: one report each time data arrives
    /// (and, if `writable`, each time room to write appears), with no system call per request once
    /// watched. `add` for a descriptor not watched here yet; otherwise the watch is modified, which
    /// also reports at once if the descriptor is ready now (a reader that did not drain its socket
    /// asks for that). Any thread.
    public func watch(_ fd: Int32, token: UInt64, writable: Bool, add: Bool) -> Bool {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLET.rawValue | (writable ? EPOLLOUT.rawValue : 0)
        event.data.u64 = token
        let (first, second, retryOn) = add ? (EPOLL_CTL_ADD, EPOLL_CTL_MOD, EEXIST) : (EPOLL_CTL_MOD, EPOLL_CTL_ADD, ENOENT)
        if epoll_ctl(epoll, first, fd, &event) == 0 { return true }
        return errno == retryOn && epoll_ctl(epoll, second, fd, &event) == 0
    }

    /// Stops watching `fd`. Only for a descriptor known to be open and watched here: closing one
    /// removes it already, and its number may then belong to another descriptor.
    public func unwatch(_ fd: Int32) {
        _ = epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nil)
    }

    // MARK: - Stopping

    /// Ends the thread; jobs that arrive afterwards run on Dispatch's pool.
    public func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let stopping = state.withLock { state -> Bool in
                guard case .running = state.phase else { return false }
                state.phase = .stopping(continuation)
                return true
            }
            if stopping { signal() } else { continuation.resume() }
        }
    }

    // MARK: - The loop

    private func run() {
        pthread_setspecific(currentLoopKey, Unmanaged.passUnretained(self).toOpaque())
        let executor = asUnownedTaskExecutor()
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            let round = state.withLock { state -> Int? in
                if case .stopping = state.phase { return nil }
                return state.queued
            }
            guard var round else { return exit() }
            while round > 0, let job = state.withLock({ $0.next() }) {
                job.runSynchronously(on: executor)
                round -= 1
            }
            let more = state.withLock { state -> Bool in
                var more = state.queued > 0
                if case .stopping = state.phase { more = true }
                state.waiting = !more
                return more
            }
            let ready = epoll_wait(epoll, &events, Int32(events.count), more ? 0 : -1)
            if !more { state.withLock { $0.waiting = false } }
            if ready <= 0 { continue }  // timeout, or EINTR
            for k in 0..<Int(ready) {
                let token = events[k].data.u64
                if token == Self.wakeToken {
                    var count: UInt64 = 0
                    _ = read(wakeFD, &count, 8)
                } else if let watcher = state.withLock({ $0.watchers[token] }) {
                    watcher.ready(events[k].events)
                }
            }
        }
    }

    /// Jobs still queued go on elsewhere; `stop` returns.
    private func exit() {
        let (left, continuation) = state.withLock { state -> ([UnownedJob], CheckedContinuation<Void, Never>?) in
            let left = Array(state.jobs[state.head...])
            state.jobs.removeAll()
            state.head = 0
            defer { state.phase = .exited }
            if case .stopping(let continuation) = state.phase { return (left, continuation) }
            return (left, nil)
        }
        let executor = asUnownedTaskExecutor()
        for job in left { DispatchQueue.global().async { job.runSynchronously(on: executor) } }
        continuation?.resume()
    }
}

/// The thread-local slot that says which loop, if any, runs the current thread.
private let currentLoopKey: pthread_key_t = {
    var key = pthread_key_t()
    precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
    return key
}()
