import Foundation

/// A single statement waiting in the pool's queue, and the caller to resume with its outcome.
struct QueuedStatement: Sendable {
    var statement: PipelinedStatement
    var continuation: CheckedContinuation<PostgresResult, any Error>
}

/// The pool's connections and its queue of single statements.
///
/// A connection is idle, lent (`acquire`, for `withConnection` and transactions) or draining: its
/// thread takes every statement queued and sends them as one pipeline, again and again until the
/// queue is empty, then returns to the pool. A statement wakes an idle connection when there is
/// one (statements run in parallel on as many connections as there are); when every connection is
/// busy, statements accumulate and the next connection to finish a batch sends them all together,
/// so one thread wake-up and one round trip carry many (see `PostgresConnection+Batches.swift`).
/// Batching only when all connections are busy measured best: with fewer connections draining
/// bigger batches, statements wait for a whole batch's round trip and fewer server backends work.
///
/// A lock rather than an actor: every operation is a few instructions, and doing them in place
/// (no `Task`, no executor hop) is what saves thread wake-ups per statement.
final class ConnectionPool: @unchecked Sendable {
    // @unchecked Sendable: every mutable field is only touched with `lock` held.
    private let lock = NSLock()
    private var idle: [PostgresConnection]
    private let all: [PostgresConnection]
    private var waiters: [CheckedContinuation<PostgresConnection, any Error>] = []
    private var queue: [QueuedStatement] = []
    private var draining = 0
    private var closed = false
    /// Most statements in one pipeline (bounds how long a batch keeps its callers waiting).
    static let maxBatch = 64

    init(connections: [PostgresConnection]) {
        idle = connections
        all = connections
    }

    // MARK: - Lending (withConnection, transactions)

    func acquire() async throws -> PostgresConnection {
        if let connection = try takeIdle() { return connection }
        return try await withCheckedThrowingContinuation { continuation in
            lock.lock()
            if closed {
                lock.unlock()
                continuation.resume(throwing: PostgresError(code: .closed, message: "client closed"))
            } else if let connection = idle.popLast() {
                lock.unlock()
                continuation.resume(returning: connection)
            } else {
                waiters.append(continuation)
                lock.unlock()
            }
        }
    }

    private func takeIdle() throws(PostgresError) -> PostgresConnection? {
        lock.lock()
        defer { lock.unlock() }
        if closed { throw PostgresError(code: .closed, message: "client closed") }
        return idle.popLast()
    }

    /// A lent connection comes back: it drains queued statements (first if no other connection
    /// does, so they cannot starve behind transactions), else goes to the first waiter, else idles.
    func release(_ connection: PostgresConnection) {
        lock.lock()
        if !closed && !queue.isEmpty && (draining == 0 || waiters.isEmpty) {
            draining += 1
            lock.unlock()
            connection.drain(self)
        } else if !waiters.isEmpty {
            let waiter = waiters.removeFirst()
            lock.unlock()
            waiter.resume(returning: connection)
        } else {
            idle.append(connection)
            lock.unlock()
        }
    }

    // MARK: - Single statements

    /// Queues one statement and wakes an idle connection if there is one.
    func submit(_ item: QueuedStatement) {
        lock.lock()
        if closed {
            lock.unlock()
            item.continuation.resume(throwing: PostgresError(code: .closed, message: "client closed"))
            return
        }
        queue.append(item)
        let woken = idle.popLast()
        if woken != nil { draining += 1 }
        lock.unlock()
        woken?.drain(self)
    }

    /// The next batch for a draining connection, or nil when it should stop: the queue is empty
    /// (it becomes idle), a `withConnection` caller waits (it is handed over, so a stream of single
    /// statements cannot starve transactions), or the pool is closed.
    func nextBatch(for connection: PostgresConnection) -> [QueuedStatement]? {
        lock.lock()
        if closed || queue.isEmpty || !waiters.isEmpty {
            draining -= 1
            if closed {
                lock.unlock()
            } else if !waiters.isEmpty {
                let waiter = waiters.removeFirst()
                lock.unlock()
                waiter.resume(returning: connection)
            } else {
                idle.append(connection)
                lock.unlock()
            }
            return nil
        }
        let batch: [QueuedStatement]
        if queue.count <= Self.maxBatch {
            batch = queue
            queue.removeAll(keepingCapacity: true)
        } else {
            batch = Array(queue.prefix(Self.maxBatch))
            queue.removeFirst(Self.maxBatch)
        }
        lock.unlock()
        return batch
    }

    // MARK: - Closing

    /// Fails every waiter and queued statement; returns all connections for closing.
    func drain() -> [PostgresConnection] {
        lock.lock()
        closed = true
        let waiting = waiters
        waiters.removeAll()
        let statements = queue
        queue.removeAll()
        lock.unlock()
        for waiter in waiting { waiter.resume(throwing: PostgresError(code: .closed, message: "client closed")) }
        for item in statements { item.continuation.resume(throwing: PostgresError(code: .closed, message: "client closed")) }
        return all
    }
}
