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
        public init(url: String, poolSize: Int = 4, connectTimeoutSeconds: Int = 5,
                    statementTimeoutMilliseconds: Int = 30_000, maxTransactionRetries: Int = 5) {
            self.url = url
            self.poolSize = poolSize
            self.connectTimeoutSeconds = connectTimeoutSeconds
            self.statementTimeoutMilliseconds = statementTimeoutMilliseconds
            self.maxTransactionRetries = maxTransactionRetries
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
            PostgresConnection(settings: configuration, name: "postgres-\($0)")
        }
        pool = ConnectionPool(connections: connections)
    }

    public convenience init(url: String, poolSize: Int = 4) {
        self.init(configuration: Configuration(url: url, poolSize: poolSize))
    }

    /// Runs one statement on any free connection. A connection failure is retried once on a fresh connection.
    @discardableResult
    public func query(_ sql: String, _ params: [PostgresValue] = []) async throws -> PostgresResult {
        try await withConnection { connection in
            do {
                return try await connection.query(sql, params)
            } catch let error as PostgresError where error.isConnectionFailure {
                return try await connection.query(sql, params)
            }
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
                    _ = try await connection.query("BEGIN ISOLATION LEVEL \(isolation.rawValue)")
                    do {
                        let value = try await body(connection)
                        _ = try await connection.query("COMMIT")
                        return value
                    } catch {
                        _ = try? await connection.query("ROLLBACK")
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
            pool.release(connection)
        }
        do {
            // The task moves to the connection's thread for the whole body: its statements run there
            // without a hand-off each (see `PostgresConnection`).
            return try await connection.onOwnThread { try await body(connection) }
        } catch {
            errors.increment()
            throw error
        }
    }

    public func close() async {
        for connection in pool.drain() { await connection.close() }
    }

    public enum Isolation: String, Sendable {
        case readCommitted = "READ COMMITTED"
        case repeatableRead = "REPEATABLE READ"
        case serializable = "SERIALIZABLE"
    }
}

/// Hands out idle connections; callers beyond the pool size wait in FIFO order.
///
/// A lock rather than an actor: taking and returning a connection is a few instructions, and
/// returning it synchronously (no `Task` per query, no executor hop) saves two thread wake-ups per
/// statement, which on a small machine were a large part of a single-row statement's cost.
final class ConnectionPool: @unchecked Sendable {
    // @unchecked Sendable: every field is only touched with `lock` held.
    private let lock = NSLock()
    private var idle: [PostgresConnection]
    private let all: [PostgresConnection]
    private var waiters: [CheckedContinuation<PostgresConnection, any Error>] = []
    private var closed = false

    init(connections: [PostgresConnection]) {
        idle = connections
        all = connections
    }

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

    func release(_ connection: PostgresConnection) {
        lock.lock()
        if waiters.isEmpty {
            idle.append(connection)
            lock.unlock()
        } else {
            let waiter = waiters.removeFirst()
            lock.unlock()
            waiter.resume(returning: connection)
        }
    }

    func drain() -> [PostgresConnection] {
        lock.lock()
        closed = true
        let waiting = waiters
        waiters.removeAll()
        lock.unlock()
        for waiter in waiting { waiter.resume(throwing: PostgresError(code: .closed, message: "client closed")) }
        return all
    }
}
