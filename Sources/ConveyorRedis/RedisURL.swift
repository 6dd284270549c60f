import Foundation

/// `redis://[[user]:password@]host[:port][/db]`.
public struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    public var database: Int

    public init(host: String = "127.0.0.1", port: Int = 6379, user: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }

    public init(_ string: String) throws(RedisError) {
        guard let url = URLComponents(string: string), url.scheme == "redis", let host = url.host, !host.isEmpty else {
            throw RedisError(code: .invalidURL, message: "expected redis://[:password@]host[:port][/db], got \(Self.redacted(string))")
        }
        self.host = host
        self.port = url.port ?? 6379
        self.user = url.user.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        self.password = url.password?.removingPercentEncoding
        let path = url.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if path.isEmpty {
            database = 0
        } else if let db = Int(path), db >= 0 {
            database = db
        } else {
            throw RedisError(code: .invalidURL, message: "database must be a number, got /\(path)")
        }
    }

    /// The URL without its password, for logs.
    public var description: String { "redis://\(host):\(port)/\(database)" }

    static func redacted(_ s: String) -> String {
        guard let at = s.lastIndex(of: "@"), let scheme = s.range(of: "://") else { return s }
        return String(s[..<scheme.upperBound]) + "***" + String(s[at...])
    }
}
