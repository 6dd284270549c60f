import ConveyorThreads
import Foundation

/// A single statement waiting in the pool's queue, and the caller to resume with its outcome.
struct QueuedStatement: Sendable {
    var statement: PipelinedStatement
    var continuation: CheckedContinuation<PostgresResult, any Error>

    var pipelinable: Bool { statement.pipelinable }
}

/// What a connection does next with statements from the queue.
enum Assignment {
    /// Sent as one pipeline, the statement loop reading the results.
    case pipeline([QueuedStatement])
    /// Run on the connection's own thread (a statement without parameters).
    case ownThread([QueuedStatement])
}

/// The pool's connections, who is using each, and its queue of single statements.
///
/// A connection is idle, lent (`acquire`, for `withConnection` and transactions, whose task then runs
/// on the connection's own thread), in the statement loop (statements in flight, see
/// `StatementLoop`), or busy on its own thread (connecting, or a statement the loop does not
/// pipeline). A single statement is sent at once, by its caller, on an idle connection, so
/// statements run in parallel on as many server backends; when none is idle it waits in the queue,
/// and the next connection to finish takes the queue (up to `maxInFlight`) as one pipeline. Nothing
/// is queued behind statements already in flight, which may be slow.
///
/// A lock rather than an actor: every operation is a few instructions, and doing them in place
/// (no `Task`, no executor hop) is what saves thread wake-ups per statement.
final class ConnectionPool: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is only touched with `lock` held.
    enum Use { case idle, lent, loop, ownThread }

    private let lock = NSLock()
    private let all: [PostgresConnection]
    private var use: [Use]
    private var idle: [Int]
    private var waiters: [CheckedContinuation<PostgresConnection, any Error>] = []
    private var queue: [QueuedStatement] = []
    private var closed = false
    private(set) var loop: StatementLoop!
    /// Most statements in one pipeline (bounds how long a pipeline keeps its callers waiting).
    static let maxInFlight = 64

    init(connections: [PostgresConnection], lentStatementsOnLoop: Bool?) {
        all = connections
        use = Array(repeating: .idle, count: connections.count)
        idle = Array(connections.indices.reversed())
        loop = StatementLoop(pool: self, connections: connections, lentStatementsOnLoop: lentStatementsOnLoop)
    }

    // MARK: - Lending (withConnection, transactions)

    func acquire() async throws -> PostgresConnection {
        let connection = try await takeOrWait()
        if loop.lendsOnLoops {
            loop.lend(connection.index)
        } else {
            loop.leave(connection.index)
        }
        return connection
    }

    private func takeOrWait() async throws -> PostgresConnection {
        if let connection = try takeIdle() { return connection }
        return try await withCheckedThrowingContinuation { continuation in
            lock.lock()
            if closed {
                lock.unlock()
                continuation.resume(throwing: PostgresError.clientClosed())
            } else if let i = takeIdleNearCaller() {
                use[i] = .lent
                lock.unlock()
                continuation.resume(returning: all[i])
            } else {
                waiters.append(continuation)
                lock.unlock()
            }
        }
    }

    private func takeIdle() throws(PostgresError) -> PostgresConnection? {
        lock.lock()
        defer { lock.unlock() }
        if closed { throw PostgresError.clientClosed() }
        guard let i = takeIdleNearCaller() else { return nil }
        use[i] = .lent
        return all[i]
    }

    /// A lent connection comes back (`lent`), or one finished work on its own thread.
    func release(_ connection: PostgresConnection, lent: Bool = false) {
        if lent { loop.endLending(connection.index) }
        lock.lock()
        let next = handBack(connection.index)
        if let next { loop.dispatch(next, on: connection, self) }
    }

    /// The loop has delivered every statement it had on connection `i` and taken it out of
    /// pipeline mode: it is handed back, or takes the queue.
    func finished(_ i: Int) {
        release(all[i])
    }

    /// With `lock` held, which it releases: the connection goes to the first waiter, unless
    /// statements wait and no other connection serves them (they cannot starve behind
    /// transactions); else it takes the queued statements; else it idles.
    private func handBack(_ i: Int) -> Assignment? {
        use[i] = .idle
        if !closed && !waiters.isEmpty && (queue.isEmpty || use.contains(.loop) || use.contains(.ownThread)) {
            use[i] = .lent
            let waiter = waiters.removeFirst()
            lock.unlock()
            waiter.resume(returning: all[i])
            return nil
        }
        let next = closed ? nil : takeQueued(i)
        if next == nil { idle.append(i) }
        lock.unlock()
        return next
    }

    /// With `lock` held: the queued statements connection `i` takes, marking its use.
    private func takeQueued(_ i: Int) -> Assignment? {
        guard let first = queue.first else { return nil }
        if !first.pipelinable {
            use[i] = .ownThread
            return .ownThread([queue.removeFirst()])
        }
        var taken: [QueuedStatement] = []
        var left: [QueuedStatement] = []
        for item in queue {
            if item.pipelinable && taken.count < Self.maxInFlight { taken.append(item) } else { left.append(item) }
        }
        queue = left
        use[i] = .loop
        return .pipeline(taken)
    }

    // MARK: - Single statements

    /// Sends one statement on an idle connection, from the caller's thread (a non-blocking send),
    /// or queues it when none is idle.
    func submit(_ item: QueuedStatement) {
        lock.lock()
        if closed {
            lock.unlock()
            item.continuation.resume(throwing: PostgresError.clientClosed())
            return
        }
        guard let i = takeIdleNearCaller() else {
            queue.append(item)
            lock.unlock()
            return
        }
        use[i] = item.pipelinable ? .loop : .ownThread
        lock.unlock()
        loop.dispatch(item.pipelinable ? .pipeline([item]) : .ownThread([item]), on: all[i], self)
    }

    /// With `lock` held: an idle connection, preferably one whose results the caller's own event
    /// loop reads, so that its task stays on that thread (no hand-over when the result arrives).
    private func takeIdleNearCaller() -> Int? {
        if let here = EventLoop.current,
           let k = idle.lastIndex(where: { loop.loop(of: $0) === here }) {
            return idle.remove(at: k)
        }
        return idle.popLast()
    }

    /// The loop gives connection `i` up to its own thread (to connect, or reconnect and run what was
    /// in flight).
    func moveToOwnThread(_ i: Int) {
        lock.withLock { use[i] = .ownThread }
    }

    // MARK: - Closing

    /// Fails every waiter and queued statement and stops the loop (which fails what it has in
    /// flight); returns all connections for closing once the loop has stopped.
    func drain() async -> [PostgresConnection] {
        let (waiting, statements) = close()
        for waiter in waiting { waiter.resume(throwing: PostgresError.clientClosed()) }
        for item in statements { item.continuation.resume(throwing: PostgresError.clientClosed()) }
        await loop.stop()
        return all
    }

    private func close() -> ([CheckedContinuation<PostgresConnection, any Error>], [QueuedStatement]) {
        lock.withLock {
            closed = true
            defer {
                waiters.removeAll()
                queue.removeAll()
            }
            return (waiters, queue)
        }
    }
}
