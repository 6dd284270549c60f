import CEpoll
import ConveyorThreads
import Foundation

/// The pool's reader of single statements' results, in the shape of `pgbench`: event loops wait in
/// `epoll` over the sockets of every connection with statements in flight, read the results of each
/// one ready and resume their callers. Statements are sent by whoever has them (the caller, on an
/// idle connection; the thread that finished with a connection, for the queue) with libpq's
/// non-blocking pipeline calls, so a statement costs no thread hand-off to be sent, and one wake-up
/// serves every connection whose results arrived.
///
/// The loops are those of `EventLoopGroup.global` when a node installed it as Swift's global
/// executor (connection `i` on loop `i % count`): a caller's task is then resumed on the thread that
/// read its result, and sends its next statement from there. Otherwise the pool has one loop of its
/// own, which tasks can prefer as their executor (`PostgresClient.executor`).
///
/// A connection's socket is watched edge-triggered from its first statement on, with no system
/// call per statement; a lent connection's socket is taken out of the set (`leave`), so a
/// transaction's round trips never wake a loop. Blocking work never runs on a loop: a connection
/// that must connect first, a statement that cannot be pipelined, and the retry after a lost
/// connection run on the connection's own thread.
final class StatementLoop: @unchecked Sendable {
    // @unchecked Sendable: each driver's state is only touched with its own lock held; the rest is
    // immutable after `init`.
    /// Weak: the pool owns the loop.
    private weak var pool: ConnectionPool?
    private let drivers: [ActiveConnection]
    /// The loop of the pool's own, stopped with the pool; nil on the global group's loops.
    private let ownLoop: EventLoop?
    /// The loop that tasks may prefer as their executor (`PostgresClient.executor`).
    let firstLoop: EventLoop
    /// Whether lent connections (`withConnection`, transactions) send their statements through the
    /// loops too, their task staying where it runs (`Configuration.lentStatementsOnLoop`; by
    /// default on the global group's loops, where results resume tasks in place. With a loop of the
    /// pool's own, a lent connection's task runs on the connection's thread instead, which saves a
    /// thread hand-off per statement).
    let lendsOnLoops: Bool

    init(pool: ConnectionPool, connections: [PostgresConnection], lentStatementsOnLoop: Bool?) {
        self.pool = pool
        let loops: [EventLoop]
        if let group = EventLoopGroup.global {
            loops = group.loops
            ownLoop = nil
        } else {
            let loop = EventLoop(name: "postgres-loop")
            loops = [loop]
            ownLoop = loop
        }
        firstLoop = loops[0]
        lendsOnLoops = lentStatementsOnLoop ?? (ownLoop == nil)
        drivers = connections.map { ActiveConnection(connection: $0, loop: loops[$0.index % loops.count]) }
        for driver in drivers { driver.register(with: self) }
        for connection in connections { connection.statementLoop = self }
    }

    /// The loop that reads connection `i`'s results.
    func loop(of i: Int) -> EventLoop { drivers[i].loop }

    /// Carries out what `pool` assigned to `connection`; any thread.
    func dispatch(_ assignment: Assignment, on connection: PostgresConnection, _ pool: ConnectionPool) {
        switch assignment {
        case .ownThread(let items):
            leave(connection.index)
            connection.runOnOwnThread(items, retryingConnectionFailures: true, pool)
        case .pipeline(let items):
            send(items, on: connection, pool)
        }
    }

    /// The pool lends connection `i` or gives it work on its own thread: its socket stops
    /// reporting to the loop.
    func leave(_ i: Int) {
        let driver = drivers[i]
        driver.lock.withLock { driver.unwatchSocket() }
    }

    // MARK: - Lent connections on the loops

    /// The pool lends connection `i` to a caller whose statements go through the loop.
    func lend(_ i: Int) {
        let driver = drivers[i]
        driver.lock.withLock { driver.lent = true }
    }

    /// The caller gives connection `i` back: out of pipeline mode (every statement of the caller has
    /// delivered), back to the pool's use.
    func endLending(_ i: Int) {
        let driver = drivers[i]
        driver.lock.withLock {
            if driver.lentInPipeline {
                driver.lentInPipeline = false
                if driver.inFlight == 0 {
                    driver.connection.handle.endAsync()
                } else {
                    // A statement still in flight (its caller did not wait for it): the connection
                    // cannot be reused in step.
                    driver.giveUp()
                }
            }
            driver.lent = false
        }
    }

    /// Whether connection `i` is lent with its statements going through the loop.
    func isLentOnLoop(_ i: Int) -> Bool {
        let driver = drivers[i]
        return driver.lock.withLock { driver.lent }
    }

    /// One statement of the caller holding `connection`: sent from the caller's thread, its result
    /// read by the connection's loop, which resumes the caller. What cannot be pipelined (several
    /// commands without parameters) and connecting run on the connection's own thread. A lost
    /// connection fails the statement (a transaction is then retried whole) and is reconnected at
    /// its next statement.
    func runLent(_ statement: PipelinedStatement, on connection: PostgresConnection) async throws -> PostgresResult {
        let driver = drivers[connection.index]
        let (handle, settings) = (connection.handle, connection.settings)
        if !statement.pipelinable {
            // The simple protocol, outside pipeline mode, blocking: on the connection's own thread.
            driver.lock.withLock {
                if driver.lentInPipeline {
                    driver.lentInPipeline = false
                    handle.endAsync()
                }
            }
            return try await connection.thread.run { try PostgresConnection.execute(handle, settings, statement.sql, statement.params) }
        }
        // A connection given up (lost, or left out of step) is out of pipeline mode: it reconnects
        // on its own thread, which blocks.
        if !driver.lock.withLock({ handle.isConnected }) {
            try await connection.thread.run { () throws in try PostgresConnection.connectIfNeeded(handle, settings) }
        }
        return try await withCheckedThrowingContinuation { continuation in
            let item = QueuedStatement(statement: statement, continuation: continuation)
            driver.lock.lock()
            defer { driver.lock.unlock() }
            if driver.stopped {
                return item.fail(.clientClosed(query: statement.sql))
            }
            if !driver.lentInPipeline {
                guard handle.beginAsync() else {
                    return item.fail(handle.failure(nil, statement.sql))
                }
                driver.lentInPipeline = true
            }
            if !driver.send([item]) || !driver.watchSocket() { lost(driver) }
        }
    }

    /// Sends statements on a connection the pool gave the loop (idle until now), in pipeline mode;
    /// a connection that must connect first goes to its own thread instead.
    private func send(_ items: [QueuedStatement], on connection: PostgresConnection, _ pool: ConnectionPool) {
        let driver = drivers[connection.index]
        driver.lock.lock()
        defer { driver.lock.unlock() }
        if driver.stopped {
            for item in items { item.fail(.clientClosed(query: item.statement.sql)) }
            return
        }
        guard connection.handle.isConnected, connection.handle.beginAsync() else {
            return handToOwnThread(connection, items, retryingConnectionFailures: true, pool)
        }
        if !driver.send(items) || !driver.watchSocket() { lost(driver) }
    }

    /// Fails what is in flight and lets no driver send again; afterwards no loop uses a connection
    /// (every use holds the driver's lock and checks `stopped`). The pool's own loop ends.
    func stop() async {
        for driver in drivers {
            driver.lock.withLock {
                driver.stopped = true
                let (failed, retry) = driver.takeUndelivered()
                for (item, error) in failed { item.fail(error) }
                for item in retry { item.fail(.clientClosed(query: item.statement.sql)) }
            }
            driver.unregister()
        }
        await ownLoop?.stop()
    }

    /// On the driver's loop: writes or reads what the socket is ready for and delivers finished
    /// statements. With nothing left in flight the connection leaves pipeline mode and goes back to
    /// the pool (which may give it the queue at once); otherwise its socket is watched again.
    func service(_ driver: ActiveConnection, _ events: UInt32) {
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
            if !driver.rewatchSocket() { lost(driver) }
            return driver.lock.unlock()
        }
        if driver.lent {
            // The caller holding it sends its next statement; it stays in pipeline mode until then.
            return driver.lock.unlock()
        }
        driver.connection.handle.endAsync()
        driver.lock.unlock()
        pool?.finished(driver.connection.index)
    }

    /// With the driver's lock held. The connection failed: a server error already read is final;
    /// the other statements in flight run once more on the connection's own thread, reconnected
    /// (they may or may not have committed, as with any lost connection). It is never reused broken.
    private func lost(_ driver: ActiveConnection) {
        let (failed, retry) = driver.takeUndelivered()
        for (item, error) in failed { item.fail(error) }
        if driver.lent {
            // Its caller's statements fail (a transaction is retried whole); it reconnects at the
            // caller's next statement or the pool's next use.
            driver.lentInPipeline = false
            let message = driver.connection.handle.lastErrorMessage
            driver.giveUp()
            for item in retry { item.fail(PostgresError(code: .connectionLost, message: message, query: item.statement.sql)) }
            return
        }
        guard let pool else {
            driver.giveUp()
            for item in retry { item.fail(.clientClosed(query: item.statement.sql)) }
            return
        }
        handToOwnThread(driver.connection, retry, retryingConnectionFailures: false, pool)
    }

    /// Closes the connection (it reconnects on its own thread, never reused broken) and gives it and
    /// `items` to its own thread, which hands it back to the pool afterwards.
    private func handToOwnThread(_ connection: PostgresConnection, _ items: [QueuedStatement],
                                 retryingConnectionFailures: Bool, _ pool: ConnectionPool) {
        drivers[connection.index].giveUp()  // the caller holds the driver's lock
        pool.moveToOwnThread(connection.index)
        connection.runOnOwnThread(items, retryingConnectionFailures: retryingConnectionFailures, pool)
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
