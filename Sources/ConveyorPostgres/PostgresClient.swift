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
        /// event loop that reads its results, the caller's task staying where it runs. nil (the
        /// default): when a node installed its event loops as Swift's global executor, where results
        /// resume tasks in place; otherwise the task moves to the connection's own thread for the body.
        public var lentStatementsOnLoop: Bool?
        public init(url: String, poolSize: Int = 4, connectTimeoutSeconds: Int = 5,
                    statementTimeoutMilliseconds: Int = 30_000, maxTransactionRetries: Int = 5,
                    lentStatementsOnLoop: Bool? = nil) {
            self.url = url
            self.poolSize = poolSize
            self.connectTimeoutSeconds = connectTimeoutSeconds
            self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
            self.maxTransactionRetries = maxTransactionRetries
            self.lentStatementsOnLoop = lentStatementsOnLoop
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
        let connections = (0..<max(1, configuration.poolSize)).map {
            PostgresConnection(settings: configuration, index: $0)
        }
        pool = ConnectionPool(connections: connections, lentStatementsOnLoop: configuration.lentStatementsOnLoop)
    }

    public convenience init(url: String, poolSize: Int = 4) {
        self.init(configuration: Configuration(url: url, poolSize: poolSize))
    }

    /// Runs one statement as its own implicit transaction. The pool's statement loop sends it on an
    /// idle connection, or pipelined behind statements in flight (see `ConnectionPool`). A server
    /// error goes to its statement's caller only. A connection failure is retried once on the same
    /// connection, reconnected.
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

    /// Runs `body` inside `BEGIN … COMMIT` on one connection. Rolls back on any error; the whole
    /// transaction is retried on serialization failure, deadlock, or a lost connection.
    public func transaction<T: Sendable>(isolation: Isolation = .readCommitted,
                                         _ body: (PostgresConnection) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await withConnection { connection in
                    _ = try await connection.run(command: "BEGIN ISOLATION LEVEL \(isolation.rawValue)")
                    do {
                        let value = try await body(connection)
                        _ = try await connection.run(command: "COMMIT")
                        return value
                    } catch {
                        _ = try? await connection.run(command: "ROLLBACK")
                        throw error
                    }
                }
            } catch let error as PostgresError where (error.isRetryableTransactionFailure || error.isConnectionFailure)
                && attempt <= configuration.maxTransactionRetries {
                logger.debug("retrying transaction", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
                try await Task.sleep(for: .milliseconds(10 * attempt * attempt))
            }
        }
    }

    /// Lends one connection for several statements outside a transaction (e.g. advisory locks).
    public func withConnection<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        let connection = try await pool.acquire()
        let start = DispatchTime.now().uptimeNanoseconds
        defer {
            latency.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start))
            pool.release(connection, lent: true)
        }
        do {
            // On a node's event loops the body stays where it runs and its statements go through the
            // loop that reads the connection's results. Otherwise the task moves to the connection's
            // thread for the whole body: its statements run there without a hand-off each.
            if pool.loop.lendsOnLoops { return try await body(connection) }
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
    ///
    /// In a node, whose tasks already run on `EventLoopGroup.global` (Swift's global executor there),
    /// this is the first of its loops and there is nothing to gain from preferring it.
    public var executor: any TaskExecutor { pool.loop.firstLoop }

    public func close() async {
        for connection in await pool.drain() { await connection.close() }
    }

    public enum Isolation: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }
}
