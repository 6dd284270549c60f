import CEpoll
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The pool's reader of single statements' results, in the shape of `pgbench`: one thread waits in
/// `epoll` over the sockets of every connection with statements in flight, reads the results of
/// each one ready and resumes their callers. Statements are sent by whoever has them (the caller, on
/// an idle connection; the thread that finished with a connection, for the queue) with libpq's
/// non-blocking pipeline calls, so a statement costs no thread hand-off to be sent, and one wake-up
/// here serves every connection whose results arrived.
///
/// Tasks can run on this thread too (`PostgresClient.executor`, see the `TaskExecutor` extension).
///
/// A connection's socket is armed one-shot: it reports once, after statements were sent, and is
/// re-armed while results are outstanding, so an idle or lent connection's socket never wakes the
/// loop. Blocking work never runs here: a connection that must connect first, a statement that
/// cannot be pipelined, and the retry after a lost connection run on the connection's own thread.
final class StatementLoop: @unchecked Sendable {
    // @unchecked Sendable: each driver's state is only touched with its own lock held; `stopping`,
    // `exited`, `onExit`, `jobs` and `waiting` only with `lock` held; the rest is immutable after
    // `init`.
    /// Weak: the pool owns the loop. A pool dropped without closing leaves the loop waiting, idle.
    private weak var pool: ConnectionPool?
    private let drivers: [ActiveConnection]
    private let epoll: Int32
    /// Read and write ends of the pipe that wakes the loop to stop.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private static let wakeTag = UInt64.max
    private let lock = NSLock()
    private var stopping = false
    private var exited = false
    private var onExit: CheckedContinuation<Void, Never>?
    /// Jobs of tasks that prefer the loop as their executor, and whether the loop waits in epoll.
    private var jobs: [UnownedJob] = []
    private var waiting = false

    init(pool: ConnectionPool, connections: [PostgresConnection]) {
        self.pool = pool
        drivers = connections.map { ActiveConnection(connection: $0) }
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        precondition(epoll >= 0, "epoll_create1 failed: \(String(cString: strerror(errno)))")
        var ends: [Int32] = [-1, -1]
        precondition(pipe(&ends) == 0, "pipe failed: \(String(cString: strerror(errno)))")
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = ends[0]
        wakeWrite = ends[1]
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakeTag
        epoll_ctl(epoll, EPOLL_CTL_ADD, wakeRead, &event)
        // The thread's closure keeps `self` alive until the loop ends.
        let thread = Thread { self.run() }
        thread.name = "postgres-loop"
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit {
        close(epoll)
        close(wakeRead)
        close(wakeWrite)
    }

    /// Carries out what `pool` assigned to `connection`; any thread.
    func dispatch(_ assignment: Assignment, on connection: PostgresConnection, _ pool: ConnectionPool) {
        switch assignment {
        case .ownThread(let items):
            connection.runOnOwnThread(items, retryingConnectionFailures: true, pool)
        case .pipeline(let items):
            send(items, on: connection, pool)
        }
    }

    /// Sends statements on a connection the pool gave the loop (idle until now), in pipeline mode;
    /// a connection that must connect first goes to its own thread instead.
    private func send(_ items: [QueuedStatement], on connection: PostgresConnection, _ pool: ConnectionPool) {
        let driver = drivers[connection.index]
        driver.lock.lock()
        defer { driver.lock.unlock() }
        if driver.stopped {
            for item in items { item.fail(PostgresError(code: .closed, message: "client closed", query: item.statement.sql)) }
            return
        }
        guard connection.handle.isConnected, connection.handle.beginAsync() else {
            return handToOwnThread(connection, items, retryingConnectionFailures: true, pool)
        }
        if !driver.send(items) || !arm(driver) { lost(driver) }
    }

    /// Returns once the loop has ended (the pool is closed): no connection is used by it after that.
    func stop() async {
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
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
    }

    // MARK: - The loop

    private func run() {
        var events = [epoll_event](repeating: epoll_event(), count: 64)
        while true {
            lock.lock()
            if !jobs.isEmpty {
                let batch = jobs
                jobs.removeAll(keepingCapacity: true)
                lock.unlock()
                let executor = asUnownedTaskExecutor()
                for job in batch { job.runSynchronously(on: executor) }
                continue
            }
            waiting = true
            lock.unlock()
            let ready = epoll_wait(epoll, &events, Int32(events.count), -1)
            lock.withLock { waiting = false }
            if ready < 0 { continue }  // EINTR
            for k in 0..<Int(ready) {
                let tag = events[k].data.u64
                if tag == Self.wakeTag {
                    var bytes = (UInt64(0), UInt64(0))
                    _ = read(wakeRead, &bytes, 16)
                    if lock.withLock({ stopping }) { return exit() }
                } else {
                    service(drivers[Int(tag)], events[k].events)
                }
            }
        }
    }

    /// Writes or reads what the socket is ready for and delivers finished statements. With nothing
    /// left in flight the connection leaves pipeline mode and goes back to the pool (which may give
    /// it the queue at once); otherwise its socket is armed again.
    private func service(_ driver: ActiveConnection, _ events: UInt32) {
        driver.lock.lock()
        if driver.stopped || driver.inFlight == 0 {
            driver.lock.unlock()
            return
        }
        if events & EPOLLOUT.rawValue != 0 && !driver.flush() {
            lost(driver)
            return driver.lock.unlock()
        }
        let healthy = driver.read { item, outcome in item.resume(with: outcome) }
        if !healthy {
            lost(driver)
            return driver.lock.unlock()
        }
        if driver.inFlight > 0 {
            if !arm(driver) { lost(driver) }
            return driver.lock.unlock()
        }
        driver.connection.handle.endAsync()
        driver.lock.unlock()
        pool?.finished(driver.connection.index)
    }

    /// Arms the driver's socket for one report: readable, and writable while libpq holds output.
    /// A new socket (after a reconnect) is added; `EPOLL_CTL_MOD` fails for it, since the old one's
    /// closing removed it from the set.
    private func arm(_ driver: ActiveConnection) -> Bool {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue | EPOLLONESHOT.rawValue | (driver.wantsWrite ? EPOLLOUT.rawValue : 0)
        event.data.u64 = UInt64(driver.connection.index)
        let socket = driver.socket
        if epoll_ctl(epoll, EPOLL_CTL_MOD, socket, &event) == 0 { return true }
        return epoll_ctl(epoll, EPOLL_CTL_ADD, socket, &event) == 0
    }

    /// With the driver's lock held. The connection failed: a server error already read is final;
    /// the other statements in flight run once more on the connection's own thread, reconnected
    /// (they may or may not have committed, as with any lost connection). It is never reused broken.
    private func lost(_ driver: ActiveConnection) {
        let (failed, retry) = driver.takeUndelivered()
        for (item, error) in failed { item.fail(error) }
        guard let pool else {
            driver.connection.handle.close()
            for item in retry { item.fail(PostgresError(code: .closed, message: "client closed", query: item.statement.sql)) }
            return
        }
        handToOwnThread(driver.connection, retry, retryingConnectionFailures: false, pool)
    }

    /// Closes the connection (it reconnects on its own thread, never reused broken) and gives it and
    /// `items` to its own thread, which hands it back to the pool afterwards.
    private func handToOwnThread(_ connection: PostgresConnection, _ items: [QueuedStatement],
                                 retryingConnectionFailures: Bool, _ pool: ConnectionPool) {
        connection.handle.close()
        pool.moveToOwnThread(connection.index)
        connection.runOnOwnThread(items, retryingConnectionFailures: retryingConnectionFailures, pool)
    }

    /// Fails what is in flight and lets no driver send again; `stop` returns.
    private func exit() {
        for driver in drivers {
            driver.lock.withLock {
                driver.stopped = true
                let (failed, retry) = driver.takeUndelivered()
                for (item, error) in failed { item.fail(error) }
                for item in retry { item.fail(PostgresError(code: .closed, message: "client closed", query: item.statement.sql)) }
            }
        }
        lock.lock()
        exited = true
        let continuation = onExit
        let left = jobs
        jobs.removeAll()
        lock.unlock()
        let executor = asUnownedTaskExecutor()
        for job in left { DispatchQueue.global().async { job.runSynchronously(on: executor) } }
        continuation?.resume()
    }
}

extension QueuedStatement {
    func resume(with outcome: Result<PostgresResult, PostgresError>) {
        switch outcome {
        case .success(let result): continuation.resume(returning: result)
        case .failure(let error): continuation.resume(throwing: error)
        }
    }

    func fail(_ error: PostgresError) {
        continuation.resume(throwing: error)
    }
}

/// Tasks may run on the loop's thread (`PostgresClient.executor`): the thread that reads a
/// statement's result then runs the caller's next step, which sends its next statement, with no
/// hand-off to Swift's pool in between, the way `pgbench`'s threads work. Jobs run between
/// `epoll` waits, so a job that blocks or computes for long delays every statement's results.
extension StatementLoop: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        lock.lock()
        if exited {
            // The client is closed: the task goes on elsewhere (its next statement fails with
            // "client closed") rather than hang.
            lock.unlock()
            let executor = asUnownedTaskExecutor()
            DispatchQueue.global().async { unowned.runSynchronously(on: executor) }
            return
        }
        jobs.append(unowned)
        let wake = waiting
        waiting = false
        lock.unlock()
        if wake {
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
    }
}
