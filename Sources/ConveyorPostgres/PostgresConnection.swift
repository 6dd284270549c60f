import ConveyorThreads
import Dispatch
import Foundation
import Synchronization

/// A connection lent by the pool (`PostgresClient.withConnection`, `transaction`): its holder's
/// statements run on it in order, in the same server session.
///
/// By default the holder's task runs on the connection's own thread (its `TaskExecutor`), so the
/// statements of a transaction execute in place instead of each paying two thread hand-offs. With
/// `lentStatementsOnLoop` they are sent from where the task runs and read by the connection's loop.
public final class PostgresConnection: Sendable {
    let pool: ConnectionPool
    let pooled: PooledConnection

    init(pool: ConnectionPool, pooled: PooledConnection) {
        self.pool = pool
        self.pooled = pooled
    }

    /// Runs one statement. A lost connection fails it (`isConnectionFailure`; its outcome is
    /// unknown) and is reconnected on the next call, never reused broken.
    public func query(_ sql: String, _ params: [PostgresValue] = []) async throws -> PostgresResult {
        try await run(PipelinedStatement(sql: sql, params: params))
    }

    public func query(_ sql: String, _ params: any PostgresEncodable...) async throws -> PostgresResult {
        try await query(sql, params.map(\.postgresValue))
    }

    func run(_ statement: PipelinedStatement) async throws -> PostgresResult {
        if pool.lendsOnLoops && statement.pipelinable {
            return try await pool.runLent(statement, on: pooled)
        }
        let (pooled, settings) = (pooled, pool.settings)
        if pooled.executor.isCurrentThread {
            // Already on this connection's thread (a task running on its executor): no hand-off.
            return try Self.execute(statement, pooled, settings)
        }
        return try await pooled.thread.run { () throws -> PostgresResult in
            try Self.execute(statement, pooled, settings)
        }
    }

    /// A command known to be single (BEGIN, COMMIT, ROLLBACK), which may be pipelined.
    func run(command: String) async throws -> PostgresResult {
        try await run(PipelinedStatement(sql: command, params: [], singleCommand: true))
    }

    /// On the connection's own thread: out of pipeline mode if a loop statement left it there, then
    /// the statement, blocking.
    private static func execute(_ statement: PipelinedStatement, _ pooled: PooledConnection,
                                _ settings: PostgresClient.Configuration) throws -> PostgresResult {
        try pooled.io.withLock { io throws(PostgresError) -> PostgresResult in
            io.endPipeline()
            try connectIfNeeded(io.handle, settings)
            do throws(PostgresError) {
                return try io.handle.execute(statement.sql, statement.params)
            } catch {
                throw error.afterSending
            }
        }
    }

    /// Connects (blocking: on the connection's own thread) unless connected.
    static func connectIfNeeded(_ handle: PGConnHandle, _ settings: PostgresClient.Configuration) throws(PostgresError) {
        if handle.isConnected { return }
        try handle.connect(url: settings.url, connectTimeoutSeconds: settings.connectTimeoutSeconds,
                           statementTimeoutMilliseconds: settings.statementTimeoutMilliseconds)
    }

    /// Runs `body` with the current task on this connection's thread.
    func onOwnThread<T>(_ body: () async throws -> T) async throws -> T {
        if #available(macOS 15.0, *) {
            return try await withTaskExecutorPreference(pooled.executor) { try await body() }
        }
        return try await body()
    }
}

/// Runs the jobs of tasks that prefer it on a connection's `DedicatedThread`.
@available(macOS 15.0, *)
extension ConnectionExecutor: TaskExecutor {
    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        if !thread.submit({ unowned.runSynchronously(on: executor) }) {
            // The connection was closed under a task that still prefers it: let the task go on
            // elsewhere (its next statement fails with the thread's "shut down" error) rather than hang.
            DispatchQueue.global().async { unowned.runSynchronously(on: executor) }
        }
    }
}

final class ConnectionExecutor: Sendable {
    let thread: DedicatedThread
    /// The thread's identity, recorded by its first job.
    private let owner = Mutex<pthread_t?>(nil)

    init(thread: DedicatedThread) {
        self.thread = thread
        // The first job on the thread records its identity (jobs run in order, so before any other).
        thread.submit { [self] in
            owner.withLock { $0 = pthread_self() }
        }
    }

    /// Whether the caller runs on this executor's thread.
    var isCurrentThread: Bool {
        guard let owner = owner.withLock({ $0 }) else { return false }
        return pthread_equal(owner, pthread_self()) != 0
    }
}
