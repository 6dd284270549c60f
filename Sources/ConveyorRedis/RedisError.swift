/// A Redis failure as a value: never a crash.
///
/// `description` carries no command arguments (they may hold user data); the server's own message is kept.
public struct RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let raw: String
        public static let connectionLost = Code(raw: "connection lost")
        public static let connectFailed = Code(raw: "connect failed")
        public static let timeout = Code(raw: "timeout")
        public static let server = Code(raw: "server error")
        public static let protocolError = Code(raw: "protocol error")
        public static let invalidURL = Code(raw: "invalid url")
        public static let closed = Code(raw: "client closed")
        public var description: String { raw }
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public static func server(_ message: String) -> RedisError { RedisError(code: .server, message: message) }

    /// The first word of a server error, e.g. `NOSCRIPT`, `BUSYGROUP`, `WRONGTYPE`.
    public var serverPrefix: String? {
        guard code == .server else { return nil }
        return message.split(separator: " ", maxSplits: 1).first.map(String.init)
    }

    /// Whether retrying on a fresh connection may succeed.
    public var isTransient: Bool {
        code == .connectionLost || code == .connectFailed || code == .timeout
            || serverPrefix == "LOADING" || serverPrefix == "BUSY" || serverPrefix == "TRYAGAIN"
            || serverPrefix == "READONLY" || serverPrefix == "MASTERDOWN"
    }

    public var description: String { "redis \(code): \(message)" }
}
