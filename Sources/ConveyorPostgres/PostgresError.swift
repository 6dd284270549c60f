/// A Postgres failure as a value. `description` never includes query parameters; the SQL text and
/// server detail go to `debugDescription`.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let raw: String
        public static let connectFailed = Code(raw: "connect failed")
        public static let connectionLost = Code(raw: "connection lost")
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

    /// Serialization failures and deadlocks: the transaction may be retried as a whole.
    public var isRetryableTransactionFailure: Bool { sqlState == "40001" || sqlState == "40P01" }
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// Whether the connection itself is gone (a restarted server, a network failure).
    public var isConnectionFailure: Bool {
        code == .connectionLost || code == .connectFailed || (sqlState?.hasPrefix("08") ?? false) || sqlState == "57P01"
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
