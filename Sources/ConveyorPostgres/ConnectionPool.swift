import CEpoll
import ConveyorThreads
import Foundation
import Synchronization

/// A single statement waiting in the pool, and the caller to resume with its outcome.
struct QueuedStatement: PoolRequest, Sendable {
    var statement: PipelinedStatement
    var continuation: CheckedContinuation<PostgresResult, any Error>

    var pipelinable: Bool { statement.pipelinable }

    func resume(with outcome: Result<PostgresResult, PostgresError>) {
        switch outcome {
        case .success(let result): continuation.resume(returning: result)
        case .failure(var error):
            if error.query == nil { error.query = statement.sql }
            continuation.resume(throwing: error)
        }
    }

    func fail(_ failure: PoolFailure) {
        continuation.resume(throwing: PostgresError(failure, query: statement.sql))
    }
}

/// One connection of the pool: its thread, its event loop, and its libpq handle behind a lock.
final class PooledConnection: Sendable {
    let index: Int
    /// Runs what blocks (connecting, the simple protocol) and the tasks of a lender that prefer it.
    let thread: DedicatedThread
    let executor: ConnectionExecutor
    /// The event loop that reads its results when statements are pipelined.
    let loop: EventLoop
    /// The handle and its reading state, used by whoever the pool gave the connection to.
    let io = Mutex(ConnectionIO())

    init(index: Int, loop: EventLoop) {
        self.index = index
        self.loop = loop
        thread = DedicatedThread(name: "postgres-\(index)")
        executor = ConnectionExecutor(thread: thread)
    }
}

/// The pool: its state machine (`PoolStateMachine`) in a `Mutex`, and the connections that carry
/// out what it decides. Single statements are sent by whoever has them (the caller, on an idle
/// connection; the thread that finished with a connection, for the queue) with libpq's
/// non-blocking pipeline calls, and read by the connections' event loops, which resume the callers;
/// blocking work (connecting, statements that cannot be pipelined) runs on a connection's own thread.
///
/// Locks: a connection's `io` may be held while the machine's lock is taken, never the reverse; no
/// libpq call is made with the machine's lock held. A connection's `io` is held for long (a blocking
/// statement) only on its own thread, while the machine says nothing of it is in flight on the loop,
/// so a loop never waits for it.
///
/// A lock rather than an actor: every operation is a few instructions, and doing them in place
/// (no `Task`, no executor hop) is what saves thread wake-ups per statement.
final class ConnectionPool: Sendable {
    typealias Machine = PoolStateMachine<QueuedStatement, CheckedContinuation<Int, any Error>>

    private let machine: Mutex<Machine>
    let connections: [PooledConnection]
    private let loops: EventLoopGroup
    let settings: PostgresClient.Configuration
    /// Whether lent connections send their statements through the loops, their task staying where
    /// it runs (`Configuration.lentStatementsOnLoop`); otherwise a lender's task runs on the
    /// connection's own thread.
    let lendsOnLoops: Bool

    init(settings: PostgresClient.Configuration) {
        self.settings = settings
        let count = max(1, settings.poolSize)
        let group = EventLoopGroup(threads: min(count, max(1, settings.eventLoops)), name: "postgres-loop")
        loops = group
        connections = (0..<count).map { PooledConnection(index: $0, loop: group.loops[$0 % group.loops.count]) }
        machine = Mutex(Machine(connections: count))
        lendsOnLoops = settings.lentStatementsOnLoop ?? false
        for connection in connections {
            // The watcher holds the pool until `drain` unregisters it.
            let token = connection.loop.register(SocketWatcher(pool: self, index: connection.index))
            connection.io.withLock { $0.token = token }
        }
    }

    /// The loop tasks may prefer as their executor (`PostgresClient.executor`).
    var firstLoop: EventLoop { loops.loops[0] }

    /// Connections whose results the caller's own event loop reads, if it runs on one.
    private func nearCaller() -> @Sendable (Int) -> Bool {
        guard let here = EventLoop.current else { return { _ in false } }
        return { [connections] i in connections[i].loop === here }
    }

    // MARK: - Lending (withConnection, transactions)

    func acquire() async throws -> PooledConnection {
        let near = nearCaller()
        let index = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int, any Error>) in
            perform(machine.withLock { $0.acquire(continuation, near: near) })
        }
        return connections[index]
    }

    /// A lender gives its connection back.
    func release(_ connection: PooledConnection) {
        let actions = connection.io.withLock { io in
            let connected = io.handle.isConnected
            let actions = machine.withLock { $0.release(connection.index, connected: connected) }
            if actions.closeConnection { io.giveUp(on: connection.loop) } else { io.endPipeline() }
            return actions
        }
        perform(actions)
    }

    /// One statement of the holder of `connection`, through its loop: sent from the caller's thread,
    /// its result read by the loop, which resumes the caller. Connecting runs on the connection's own
    /// thread first.
    func runLent(_ statement: PipelinedStatement, on connection: PooledConnection) async throws -> PostgresResult {
        if !connection.io.withLock({ $0.handle.isConnected }) {
            try await connection.thread.run { [settings] () throws in
                try connection.io.withLock { io throws(PostgresError) in try PostgresConnection.connectIfNeeded(io.handle, settings) }
            }
        }
        return try await withCheckedThrowingContinuation { continuation in
            let item = QueuedStatement(statement: statement, continuation: continuation)
            let actions = connection.io.withLock { io in
                var actions = machine.withLock { $0.sendLent(item, on: connection.index) }
                guard case .send = actions.connection else { return actions }
                actions.connection = .none
                let (_, healthy) = io.send([statement])
                if !healthy || !io.watchSocket(on: connection.loop) {
                    actions = lost(connection, &io)
                }
                return actions
            }
            perform(actions)
        }
    }

    // MARK: - Single statements

    /// Sends one statement on an idle connection, from the caller's thread (a non-blocking send),
    /// or queues it when none is idle.
    func submit(_ item: QueuedStatement) {
        let near = nearCaller()
        perform(machine.withLock { $0.submit(item, near: near) })
    }

    // MARK: - Carrying out actions

    private func perform(_ actions: Machine.Actions) {
        for (request, failure) in actions.failed { request.fail(failure) }
        for waiter in actions.failedWaiters { waiter.resume(throwing: PostgresError.clientClosed()) }
        switch actions.connection {
        case .none:
            break
        case .lend(let i, let waiter):
            if !lendsOnLoops {
                // The lender's statements run on the connection's thread: its socket stops reporting here.
                let connection = connections[i]
                connection.io.withLock { $0.unwatchSocket(on: connection.loop) }
            }
            waiter.resume(returning: i)
        case .send(let i, let requests):
            send(requests, on: connections[i])
        case .runOnOwnThread(let i, let requests):
            runOnOwnThread(requests, on: connections[i])
        }
    }

    /// Sends statements the machine gave to an idle connection, in pipeline mode.
    private func send(_ requests: [QueuedStatement], on connection: PooledConnection) {
        let actions = connection.io.withLock { io -> Machine.Actions? in
            let (queued, healthy) = io.send(requests.map(\.statement))
            if healthy && io.watchSocket(on: connection.loop) { return nil }
            return lost(connection, &io, unsent: requests.count - queued)
        }
        if let actions { perform(actions) }
    }

    /// With `io` held: the connection failed under the loop; the machine says what becomes of what
    /// was in flight. It is closed here.
    private func lost(_ connection: PooledConnection, _ io: inout ConnectionIO, unsent: Int = 0) -> Machine.Actions {
        let serverError = io.serverErrorRead
        io.giveUp(on: connection.loop)
        var actions = machine.withLock { $0.lost(connection.index, unsent: unsent, serverErrorRead: serverError != nil) }
        if let request = actions.failedAtServer, let serverError {
            request.resume(with: .failure(serverError))
            actions.failedAtServer = nil
        }
        return actions
    }

    /// On the connection's loop: writes or reads what its socket is ready for and delivers finished
    /// statements. With nothing left in flight the connection leaves pipeline mode and goes back to
    /// the pool (which may give it the queue at once); otherwise its socket is watched again.
    fileprivate func service(_ i: Int, _ events: UInt32) {
        // A stale event (the connection was lent or went to its own thread since) is ignored without
        // touching its lock, which its own thread may hold for a blocking statement.
        if machine.withLock({ $0.inFlight(on: i) }) == 0 { return }
        let connection = connections[i]
        var delivered: [(QueuedStatement, Result<PostgresResult, PostgresError>)] = []
        let actions = connection.io.withLock { io -> Machine.Actions? in
            if io.unread == 0 { return nil }
            if events & EPOLLOUT.rawValue != 0 && !io.flush() { return lost(connection, &io) }
            var consume = true
            while true {
                switch io.readNext(consume: consume) {
                case .failed:
                    for (request, outcome) in delivered { request.resume(with: outcome) }
                    delivered = []
                    return lost(connection, &io)
                case .wait:
                    if io.unread > 0 && !io.rewatchSocket(on: connection.loop) { return lost(connection, &io) }
                    return nil
                case .delivered(let outcome):
                    consume = false
                    let delivery = machine.withLock { $0.delivered(on: i) }
                    if let request = delivery.request { delivered.append((request, outcome)) }
                    if io.unread > 0 { continue }
                    if delivery.handedBack { io.endPipeline() }
                    // Lent: the holder sends its next statement; it stays in pipeline mode until then.
                    return delivery.actions
                }
            }
        }
        for (request, outcome) in delivered { request.resume(with: outcome) }
        if let actions { perform(actions) }
    }

    /// Runs `requests` on the connection's own thread (connecting first if needed), then reports
    /// back to the machine.
    private func runOnOwnThread(_ requests: [QueuedStatement], on connection: PooledConnection) {
        let accepted = connection.thread.submit { [self] in
            let connected = connection.io.withLock { io in
                io.unwatchSocket(on: connection.loop)
                PostgresConnection.execute(requests.map(\.statement), io.handle, settings) { i, outcome in
                    requests[i].resume(with: outcome.mapError(\.afterSending))
                }
                return io.handle.isConnected
            }
            perform(machine.withLock { $0.ownThreadFinished(connection.index, connected: connected) })
        }
        if !accepted {
            // The thread is shut down (client closing): nothing can run here.
            for request in requests { request.fail(.closed) }
        }
    }

    // MARK: - Closing

    /// Fails every waiter, queued statement and statement in flight, stops the loops and closes
    /// every connection on its own thread.
    func drain() async {
        perform(machine.withLock { $0.shutDown() })
        for connection in connections {
            connection.loop.unregister(connection.io.withLock { $0.token })
        }
        await loops.stop()
        for connection in connections {
            _ = await connection.thread.run { connection.io.withLock { io in io.giveUp(on: connection.loop) } }
            connection.thread.shutdown()
        }
    }
}

/// Tells the pool that a connection's socket is ready, on the connection's loop.
private final class SocketWatcher: EventLoopWatcher {
    let pool: ConnectionPool
    let index: Int

    init(pool: ConnectionPool, index: Int) {
        self.pool = pool
        self.index = index
    }

    func ready(_ events: UInt32) {
        pool.service(index, events)
    }
}
