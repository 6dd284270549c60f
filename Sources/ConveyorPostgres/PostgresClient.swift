import ConveyorThreads
import Dispatch
import Foundation
import Logging
import Metrics

/// Postgres client: a pool of thread-confined libpq connections.
public final class PostgresClient: Sendable {
    public struct Configuration: Sendable {
        public var url: String
        public var poolSize: Int
        public var connectTimeoutSeconds: Int
        public var statementTimeoutMilliseconds: Int
        public var maxTransactionRetries: Int
        /// Whether a lent connection's statements (`withConnection`, `transaction`) go through the
        /// event loop that reads its results, the caller's task staying where it runs. nil or false
        /// (the default): the task moves to the connection's own thread for the body.
        public var lentStatementsOnLoop: Bool?
        /// Event loops (threads) that read the pool's pipelined results (a node's
        /// `event_loop_threads`); at most one per connection.
        public var eventLoops: Int
        public init(url: String, poolSize: Int = 4, connectTimeoutSeconds: Int = 5,
                    statementTimeoutMilliseconds: Int = 30_000, maxTransactionRetries: Int = 5,
                    lentStatementsOnLoop: Bool? = nil, eventLoops: Int = 1) {
            self.url = url
            self.poolSize = poolSize
            self.connectTimeoutSeconds = connectTimeoutSeconds
            self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
            self.maxTransactionRetries = maxTransactionRetries
            self.lentStatementsOnLoop = lentStatementsOnLoop
            self.eventLoops = eventLoops
        }
    }

    public let configuration: Configuration
    private let pool: ConnectionPool
    private let logger: Logger
    private let latency = Metrics.Timer(label: "conveyor_postgres_call_duration_seconds")
    private let errors = Counter(label: "conveyor_postgres_errors_total")

    public init(configuration: Configuration, logger: Logger = Logger(label: "conveyor.postgres")) {
        self.configuration = configuration
        self.logger = logger
        pool = ConnectionPool(settings: configuration)
    }

    public convenience init(url: String, poolSize: Int = 4) {
        self.init(configuration: Configuration(url: url, poolSize: poolSize))
    }

    /// Runs one statement as its own implicit transaction. The pool sends it on an idle connection,
    /// or pipelined with other queued statements (see `PoolStateMachine`). A server error goes to
    /// its statement's caller only. A connection lost after the statement was sent fails it with
    /// `isOutcomeUnknown` (it may or may not have committed): it is never run again silently; an
    /// idempotent caller retries (`retryingUnknownOutcome`).
    @discardableResult
    public func query(_ sql: String, _ params: [PostgresValue] = []) async throws -> PostgresResult {
        let start = DispatchTime.now().uptimeNanoseconds
        defer { latency.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start)) }
        do {
            return try await withCheckedThrowingContinuation { continuation in
                pool.submit(QueuedStatement(statement: PipelinedStatement(sql: sql, params: params), continuation: continuation))
            }
        } catch {
            errors.increment()
            throw error
        }
    }

    @discardableResult
    public func query(_ sql: String, _ params: any PostgresEncodable...) async throws -> PostgresResult {
        try await query(sql, params.map(\.postgresValue))
    }

    /// A read (a statement without side effects, e.g. a `SELECT`): like `query`, but run once more
    /// when its connection was lost while it ran — its outcome unknown (what
    /// `retryingUnknownOutcome` retries), or the server ending the session under it (a restart,
    /// `pg_terminate_backend`): reading again gives what the lost read would have. Not when no
    /// connection could be made at all: that would only double the wait.
    public func read(_ sql: String, _ params: [PostgresValue] = []) async throws -> PostgresResult {
        do {
            return try await query(sql, params)
        } catch let error as PostgresError where error.isConnectionFailure && error.code != .connectFailed {
            logger.debug("running a read again after its connection was lost", metadata: ["error": "\(error)"])
            return try await query(sql, params)
        }
    }

    /// Runs `body` inside `BEGIN … COMMIT` on one connection. Rolls back on any error; the whole
    /// transaction is retried on serialization failure, deadlock, or a connection lost before
    /// COMMIT was sent (nothing committed then). A connection lost during COMMIT fails with
    /// `isOutcomeUnknown`: the transaction may or may not have committed, and is not run again.
    public func transaction<T: Sendable>(isolation: Isolation = .readCommitted,
                                         _ body: (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 0
        var backoff = Backoff(initial: .milliseconds(10), maximum: .milliseconds(250))
        while true {
            attempt += 1
            do {
                return try await withConnection { connection in
                    do {
                        _ = try await connection.run(command: "BEGIN ISOLATION LEVEL \(isolation.rawValue)")
                        let value: T
                        do {
                            value = try await body(connection)
                        } catch {
                            _ = try? await connection.run(command: "ROLLBACK")
                            throw error
                        }
                        do {
                            _ = try await connection.run(command: "COMMIT")
                        } catch let error as PostgresError where error.isConnectionFailure {
                            throw error.afterSending.committing
                        }
                        return value
                    } catch let error as PostgresError where error.isOutcomeUnknown && !error.duringCommit {
                        // Lost before COMMIT: the server rolled the transaction back.
                        throw error.rolledBack
                    }
                }
            } catch let error as PostgresError where (error.isRetryableTransactionFailure || error.isConnectionFailure)
                && !error.isOutcomeUnknown && attempt <= configuration.maxTransactionRetries {
                logger.debug("retrying transaction", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
                try await Task.sleep(for: backoff.next())
            }
        }
    }

    /// Runs `body` (idempotent statements) again, up to `attempts` times in all, while it fails
    /// because a connection was lost after a statement was sent (`isOutcomeUnknown`): for callers
    /// whose statements have the same effect run twice, e.g. reads and upserts.
    public func retryingUnknownOutcome<T>(attempts: Int = 2, _ body: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch let error as PostgresError where error.isOutcomeUnknown && attempt < attempts {
                logger.debug("retrying an idempotent statement after a lost connection", metadata: ["error": "\(error)"])
                attempt += 1
            }
        }
    }

    /// Lends one connection for several statements outside a transaction (e.g. advisory locks).
    public func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let pooled = try await pool.acquire()
        let connection = PostgresConnection(pool: pool, pooled: pooled)
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            latency.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start))
            pool.release(pooled)
        }
        do {
            // With `lentStatementsOnLoop` the body stays where it runs and its statements go through
            // the loop that reads the connection's results. Otherwise the task moves to the
            // connection's thread for the whole body: its statements run there without a hand-off each.
            if pool.lendsOnLoops { return try await body(connection) }
            return try await connection.onOwnThread { try await body(connection) }
        } catch {
            errors.increment()
            throw error
        }
    }

    /// The event loop that reads single statements' results, as a task executor. A task that runs
    /// many statements one after another can prefer it (`withTaskExecutorPreference(client.executor)`,
    /// `group.addTask(executorPreference:)`): each result then resumes the task on the thread that
    /// read it, which sends its next statement, instead of handing the task to another thread (a
    /// thread wake-up per statement, see `bench/README.md`). Like any event loop, it must not block:
    /// code that blocks or computes for long there delays every caller's results. Transactions still
    /// move to their connection's thread.
    public var executor: any TaskExecutor { pool.firstLoop }

    public func close() async {
        await pool.drain()
    }

    public enum Isolation: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }
}
