import ConveyorThreads
import Dispatch
import Foundation

/// One libpq connection confined to its own thread, reconnecting after failures.
///
/// Single statements (`PostgresClient.query`) reach it through the pool's queue: the pool's
/// `StatementLoop` sends them on it while it is idle, pipelined, and its own thread connects it and
/// runs what the loop cannot (`PostgresConnection+Batches.swift`). The thread is also a `TaskExecutor`: while a caller holds the connection (`withConnection`,
/// `transaction`), its task runs on the connection's thread, so the statements of a transaction
/// execute in place instead of each paying two thread hand-offs (there and back).
public final class PostgresConnection: @unchecked Sendable {
    // @unchecked Sendable: `handle` is used by one thread at a time, as the pool says: `thread`
    // (closures run there, or a task running on `executor`) while the connection is lent or busy on
    // its own thread, the pool's `StatementLoop` while it drives it. Each hand-over goes through the
    // pool's lock, which orders the two threads' accesses.
    let thread: DedicatedThread
    let handle = PGConnHandle()
    let settings: PostgresClient.Configuration
    let executor: ConnectionExecutor
    /// Position in the pool.
    let index: Int
    /// The pool's statement loop, set once before the connection is first used; through it go the
    /// statements of a caller holding the connection when the pool lends on the loops.
    weak var statementLoop: StatementLoop?

    init(settings: PostgresClient.Configuration, index: Int) {
        self.settings = settings
        self.index = index
        let name = "postgres-\(index)"
        self.thread = DedicatedThread(name: name)
        self.executor = ConnectionExecutor(thread: thread)
    }

    /// Runs one statement. A lost connection is reconnected on the next call, never reused broken.
    public func query(_ sql: String, _ params: [PostgresValue] = []) async throws -> PostgresResult {
        try await run(PipelinedStatement(sql: sql, params: params))
    }

    func run(_ statement: PipelinedStatement) async throws -> PostgresResult {
        if let statementLoop, statementLoop.isLentOnLoop(index) {
            return try await statementLoop.runLent(statement, on: self)
        }
        let (sql, params) = (statement.sql, statement.params)
        if executor.isCurrentThread {
            // Already on this connection's thread (a task running on its executor): no hand-off.
            return try Self.execute(handle, settings, sql, params)
        }
        return try await thread.run { [handle, settings] () throws -> PostgresResult in
            try Self.execute(handle, settings, sql, params)
        }
    }

    /// A command known to be single (BEGIN, COMMIT, ROLLBACK), which may be pipelined.
    func run(command: String) async throws -> PostgresResult {
        try await run(PipelinedStatement(sql: command, params: [], singleCommand: true))
    }

    public func query(_ sql: String, _ params: any PostgresEncodable...) async throws -> PostgresResult {
        try await query(sql, params.map(\.postgresValue))
    }

    static func execute(_ handle: PGConnHandle, _ settings: PostgresClient.Configuration,
                                _ sql: String, _ params: [PostgresValue]) throws -> PostgresResult {
        try connectIfNeeded(handle, settings)
        return try handle.execute(sql, params)
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
            return try await withTaskExecutorPreference(executor) { try await body() }
        }
        return try await body()
    }

    func disconnectForRetry() async {
        _ = await thread.run { [handle] in handle.close() }
    }

    func close() async {
        _ = await thread.run { [handle] in handle.close() }
        thread.shutdown()
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

final class ConnectionExecutor: @unchecked Sendable {
    // @unchecked Sendable: `owner` is written once, on the thread, and read with `lock` held.
    let thread: DedicatedThread
    private let lock = NSLock()
    private var owner: pthread_t?

    init(thread: DedicatedThread) {
        self.thread = thread
        // The first job on the thread records its identity (jobs run in order, so before any other).
        thread.submit { [self] in
            lock.withLock { owner = pthread_self() }
        }
    }

    /// Whether the caller runs on this executor's thread.
    var isCurrentThread: Bool {
        let owner = lock.withLock { self.owner }
        guard let owner else { return false }
        return pthread_equal(owner, pthread_self()) != 0
    }
}
