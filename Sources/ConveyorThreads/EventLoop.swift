import CEpoll
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Told by an `EventLoop`, on the loop's thread, that a file descriptor it watches is ready.
public protocol EventLoopWatcher: AnyObject, Sendable {
    /// `events` are epoll's bits (`EPOLLIN`, `EPOLLOUT`, `EPOLLERR`, `EPOLLHUP`).
    func ready(_ events: UInt32)
}

/// One thread that runs Swift jobs and waits in `epoll` for the sockets it watches: the shape of
/// `pgbench`'s threads and of a NIO event loop. A task resumed here by a socket's watcher (a
/// Postgres result, say) runs on the thread that read the result and sends its next request from
/// there, with no hand-off to another thread in between.
///
/// It is a `TaskExecutor`, and the threads of an `EventLoopGroup` can run all of Swift's global jobs
/// (`EventLoopGroup.installAsGlobalExecutor`, which `conveyor node` does). Like any event loop, what
/// runs here must not block: a job that blocks or computes for long delays every socket of the loop.
///
/// Jobs run in rounds between `epoll` waits (a round: the jobs queued when it starts, taken one at a
/// time, so an idle sibling can take the rest); while jobs are queued the loop only polls (timeout
/// 0), so sockets are read between rounds and never starve behind busy tasks.
public final class EventLoop: TaskExecutor, @unchecked Sendable {
    // @unchecked Sendable: `jobs`, `head`, `taken`, `waiting`, `stopping`, `exited`, `onExit`,
    // `watchers` and `nextToken` are only touched with `lock` held; `group` is set once, before `start()`; the
    // rest is immutable after `init`.
    public let name: String
    private let epoll: Int32
    /// An eventfd that wakes the loop from `epoll_wait` (new jobs, stop).
    private let wakeFD: Int32
    private static let wakeToken = UInt64.max
    /// Jobs queued here before an idle sibling is woken to take some. A few jobs run in
    /// microseconds, less than waking a thread costs; and moving a task away from the loop that
    /// reads its sockets costs a hand-over at its next result.
    private static let backlogWorthSharing = 8
    private let lock = NSLock()
    /// Queued jobs from `head` on (taken one at a time, so a sibling can take from the rest).
    private var jobs: [QueuedJob] = []
    private var head = 0
    private var taken = 0
    /// The loop is in (or about to enter) an `epoll_wait` without timeout: enqueuing must wake it.
    private var waiting = false
    private var stopping = false
    private var exited = false
    private var onExit: CheckedContinuation<Void, Never>?
    private var watchers: [UInt64: any EventLoopWatcher] = [:]
    private var nextToken: UInt64 = 0
    /// The group whose siblings share work with this loop (nil for a loop of its own). Strong: a
    /// group and its loops live as long as the process (the loops' threads never end), and a weak
    /// reference would put the group's reference count in a side table, slow on every job.
    public private(set) var group: EventLoopGroup?

    /// A loop with its own thread, started at once.
    public convenience init(name: String) {
        self.init(unstartedNamed: name)
        start()
    }

    /// A loop for a group, which joins and starts it once all its loops exist.
    init(unstartedNamed name: String) {
        self.name = name
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "epoll_create1 failed: \(String(cString: strerror(errno)))")
        wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        precondition(wakeFD >= 0, "eventfd failed: \(String(cString: strerror(errno)))")
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakeToken
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeFD, &event)
    }

    /// Before `start()`.
    func join(_ group: EventLoopGroup) {
        self.group = group
    }

    func start() {
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

    /// A job of a task that prefers this loop (`TaskExecutor`).
    public func enqueue(_ job: consuming ExecutorJob) {
        enqueue(QueuedJob(job: UnownedJob(job), global: false))
    }

    /// A job of Swift's global executor (the group's hook), run as the default executor's.
    func enqueueGlobal(_ job: UnownedJob) {
        enqueue(QueuedJob(job: job, global: true))
    }

    /// Queues a job; wakes the loop if it waits, or else, when work is piling up here, an idle
    /// sibling of its group, which takes some of it.
    private func enqueue(_ job: QueuedJob) {
        lock.lock()
        if exited {
            // The loop has stopped: the job goes on elsewhere rather than never run.
            lock.unlock()
            let executor = asUnownedTaskExecutor()
            DispatchQueue.global().async { job.run(on: executor) }
            return
        }
        jobs.append(job)
        let wake = waiting
        waiting = false
        let backlog = jobs.count - head
        lock.unlock()
        if wake {
            signal()
        } else if backlog >= Self.backlogWorthSharing, let group {
            group.wakeIdleLoop(besides: self)
        }
    }

    /// Takes the global jobs among the newest half of the queue, for an idle sibling. A job of a
    /// task that prefers this loop stays: run elsewhere, the runtime would send it straight back.
    func shareJobs() -> [QueuedJob] {
        lock.lock()
        defer { lock.unlock() }
        let half = (jobs.count - head) / 2
        guard half > 0 else { return [] }
        let newest = jobs[(jobs.count - half)...]
        let shared = newest.filter(\.global)
        if shared.count < half {
            let kept = newest.filter { !$0.global }
            jobs.removeLast(half)
            jobs.append(contentsOf: kept)
        } else {
            jobs.removeLast(half)
        }
        return shared
    }

    /// Jobs this loop has taken from its queue to run (a sibling's taken ones are the sibling's).
    public var jobsRun: Int { lock.withLock { taken } }

    /// The oldest queued job, if any.
    private func nextJob() -> QueuedJob? {
        lock.lock()
        defer { lock.unlock() }
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

    /// Wakes the loop if it waits with no timeout; false if it is busy (it will see its work).
    func wakeIfWaiting() -> Bool {
        lock.lock()
        let wake = waiting
        waiting = false
        lock.unlock()
        if wake { signal() }
        return wake
    }

    private func signal() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: - File descriptors

    /// A token for `watch`: events for it go to `watcher`, on this loop's thread, until `unregister`.
    public func register(_ watcher: any EventLoopWatcher) -> UInt64 {
        lock.withLock {
            nextToken += 1
            watchers[nextToken] = watcher
            return nextToken
        }
    }

    /// No further events reach the watcher of `token` (one already harvested may still, once).
    public func unregister(_ token: UInt64) {
        _ = lock.withLock { watchers.removeValue(forKey: token) }
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

    /// Ends the thread; jobs that arrive afterwards run on Dispatch's pool. A loop of a group that is
    /// Swift's global executor is never stopped.
    public func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            if exited {
                lock.unlock()
                continuation.resume()
                return
            }
            stopping = true
            onExit = continuation
            lock.unlock()
            signal()
        }
    }

    // MARK: - The loop

    private func run() {
        pthread_setspecific(currentLoopKey, Unmanaged.passUnretained(self).toOpaque())
        let executor = asUnownedTaskExecutor()
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            lock.lock()
            if stopping { return exit() }
            var round = jobs.count - head
            lock.unlock()
            if round == 0, let group {
                for job in group.jobsToShare(with: self) { job.run(on: executor) }
            }
            while round > 0, let job = nextJob() {
                job.run(on: executor)
                round -= 1
            }

            lock.lock()
            let more = jobs.count > head || stopping
            waiting = !more
            lock.unlock()
            let ready = epoll_wait(epoll, &events, Int32(events.count), more ? 0 : -1)
            if !more { lock.withLock { waiting = false } }
            if ready <= 0 { continue }  // timeout, or EINTR
            for k in 0..<Int(ready) {
                let token = events[k].data.u64
                if token == Self.wakeToken {
                    var count: UInt64 = 0
                    _ = read(wakeFD, &count, 8)
                } else if let watcher = lock.withLock({ watchers[token] }) {
                    watcher.ready(events[k].events)
                }
            }
        }
    }

    /// With `lock` held, which it releases: jobs still queued go on elsewhere; `stop` returns.
    private func exit() {
        exited = true
        let left = jobs[head...]
        jobs.removeAll()
        head = 0
        let continuation = onExit
        lock.unlock()
        let executor = asUnownedTaskExecutor()
        for job in left { DispatchQueue.global().async { job.run(on: executor) } }
        continuation?.resume()
    }
}

/// A queued job and how to run it.
struct QueuedJob {
    let job: UnownedJob
    /// A job of Swift's global executor. It runs as the default executor's: a task without an
    /// executor preference whose job ran "on" a loop's executor would be moved by the runtime at
    /// every `await` of a nonisolated function (its task executor, the loop, is not the default
    /// one), each a trip through the queue.
    let global: Bool

    func run(on loop: UnownedTaskExecutor) {
        job.runSynchronously(on: global ? defaultTaskExecutor : loop)
    }
}

/// Swift's default task executor, as the runtime identifies it.
private let defaultTaskExecutor = globalConcurrentExecutor.asUnownedTaskExecutor()

/// The thread-local slot that says which loop, if any, runs the current thread.
private let currentLoopKey: pthread_key_t = {
    var key = pthread_key_t()
    precondition(pthread_key_create(&key, nil) == 0, "pthread_key_create failed")
    return key
}()
