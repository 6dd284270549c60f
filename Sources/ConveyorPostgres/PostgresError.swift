/// A Postgres failure as a value. `description` never includes query parameters; the SQL text and
/// server detail go to `debugDescription`.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let raw: String
        public static let connectFailed = Code(raw: "connect failed")
        public static let connectionLost = Code(raw: "connection lost")
        /// The connection was lost after the statement was sent: it may or may not have committed.
        /// It is not run again; a caller whose statement is idempotent may retry it.
        public static let outcomeUnknown = Code(raw: "connection lost, outcome unknown")
        public static let server = Code(raw: "server error")
        public static let decoding = Code(raw: "decoding error")
        public static let closed = Code(raw: "client closed")
        public static let invalidURL = Code(raw: "invalid url")
        public var description: String { raw }
    }

    public var code: Code
    public var message: String
    /// SQLSTATE, e.g. "23505" unique violation, "40001" serialization failure.
    public var sqlState: String?
    public var query: String?

    public init(code: Code, message: String, sqlState: String? = nil, query: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.query = query
    }

    /// What every call gets once the client is closed.
    static func clientClosed(query: String? = nil) -> PostgresError {
        PostgresError(code: .closed, message: "client closed", query: query)
    }

    /// What the pool fails a statement with instead of running it.
    init(_ failure: PoolFailure, query: String?) {
        switch failure {
        case .closed: self = .clientClosed(query: query)
        case .outcomeUnknown:
            self.init(code: .outcomeUnknown, message: "the connection was lost after the statement was sent; it may or may not have committed and was not run again", query: query)
        }
    }

    /// A connection lost while a statement ran (it had been sent): its outcome is unknown.
    var afterSending: PostgresError {
        guard code == .connectionLost else { return self }
        var error = self
        error.code = .outcomeUnknown
        error.message = "\(message) (after the statement was sent: it may or may not have committed)"
        return error
    }

    /// COMMIT met the lost connection: the transaction's outcome is unknown.
    var committing: PostgresError {
        var error = self
        error.message = "during COMMIT: \(message)"
        error.query = "COMMIT"
        return error
    }

    var duringCommit: Bool { code == .outcomeUnknown && query == "COMMIT" }

    /// A statement of a transaction met the lost connection before COMMIT: the server rolled the
    /// transaction back, so it may be retried whole.
    var rolledBack: PostgresError {
        var error = self
        error.code = .connectionLost
        error.message = "\(message); the transaction was rolled back"
        return error
    }

    /// The statement was sent and the connection lost before its outcome arrived: it may or may not
    /// have committed. Only an idempotent statement may be retried (`PostgresClient.retryingUnknownOutcome`).
    public var isOutcomeUnknown: Bool { code == .outcomeUnknown }

    /// Serialization failures and deadlocks: the transaction may be retried as a whole.
    public var isRetryableTransactionFailure: Bool { sqlState == "40001" || sqlState == "40P01" }
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// Whether the connection itself is gone (a restarted server, a network failure).
    public var isConnectionFailure: Bool {
        code == .connectionLost || code == .outcomeUnknown || code == .connectFailed || (sqlState?.hasPrefix("08") ?? false) || sqlState == "57P01"
    }

    public var description: String {
        var text = "postgres \(code): \(message)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        return text
    }

    public var debugDescription: String {
        description + (query.map { " in query: \($0)" } ?? "")
    }
}
