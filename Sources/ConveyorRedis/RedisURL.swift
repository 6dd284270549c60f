import Foundation

/// `redis://[[user]:password@]host[:port][/db]`, or
/// `redis+sentinel://[[user]:password@]host1[:26379],host2[:26379]/master-name[/db][?sentinel_user=…&sentinel_password=…]`
/// (docs/redis.md#sentinel). With Sentinel, `host` and `port` are the first Sentinel's; the master is
/// asked for at connect time (`RedisEndpoint`). The URL's credentials are the data nodes' (master and
/// replicas); `sentinel_user` / `sentinel_password` are for Sentinels that require a password.
public struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    public var database: Int
    /// Set for `redis+sentinel://` URLs.
    public var sentinel: Sentinel?

    /// A `host:port` pair.
    public struct Address: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    /// Where to ask for the master, and how to authenticate to the Sentinels.
    public struct Sentinel: Sendable, Hashable {
        public var addresses: [Address]
        public var masterName: String
        public var user: String?
        public var password: String?
        public init(addresses: [Address], masterName: String, user: String? = nil, password: String? = nil) {
            self.addresses = addresses
            self.masterName = masterName
            self.user = user
            self.password = password
        }
    }

    public init(host: String = "127.0.0.1", port: Int = 6379, user: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
    }

    /// A Sentinel URL from its parts (the `redis_sentinels` + `redis_master_name` settings).
    public init(sentinels: [Address], masterName: String, user: String? = nil, password: String? = nil, database: Int = 0,
                sentinelUser: String? = nil, sentinelPassword: String? = nil) throws(RedisError) {
        guard let first = sentinels.first else { throw RedisError(code: .invalidURL, message: "Sentinel list is empty") }
        guard !masterName.isEmpty else { throw RedisError(code: .invalidURL, message: "Sentinel master name is empty") }
        self.init(host: first.host, port: first.port, user: user, password: password, database: database)
        sentinel = Sentinel(addresses: sentinels, masterName: masterName, user: sentinelUser, password: sentinelPassword)
    }

    public init(_ string: String) throws(RedisError) {
        if string.hasPrefix("redis+sentinel://") {
            self = try Self.parseSentinel(string)
            return
        }
        let usage = "expected redis://[[user]:password@]host[:port][/db] or redis+sentinel://[[user]:password@]host:port[,host:port…]/master[/db], got \(Self.redacted(string))"
        guard string.hasPrefix("redis://") else { throw RedisError(code: .invalidURL, message: usage) }
        // Split by hand like the Sentinel form: `URLComponents.host` runs ICU's IDNA (UTS 46) code and
        // maps its data into every node (bench/README.md "Results: memory").
        var rest = Substring(string.dropFirst("redis://".count))
        if let query = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<query] } // ignored, as before
        (user, password) = (nil, nil)
        if let at = rest.lastIndex(of: "@") {
            let info = rest[..<at]
            let colon = info.firstIndex(of: ":")
            (user, password) = Self.credentials(user: String(info[..<(colon ?? info.endIndex)]),
                                                password: colon.map { String(info[info.index(after: $0)...]) })
            rest = rest[rest.index(after: at)...]
        }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let address = Self.address(rest[..<slash], defaultPort: 6379), !address.host.contains("/") else {
            throw RedisError(code: .invalidURL, message: usage)
        }
        host = address.host
        port = address.port
        database = try Self.database(rest[slash...].trimmingCharacters(in: CharacterSet(charactersIn: "/")))
    }

    /// The URL without its password, for logs.
    public var description: String {
        guard let sentinel else { return "redis://\(host):\(port)/\(database)" }
        return "redis+sentinel://\(sentinel.addresses.map(\.description).joined(separator: ","))/\(sentinel.masterName)/\(database)"
    }

    /// The data node at `address` with this URL's credentials and database (a Sentinel's answer).
    public func node(_ address: Address) -> RedisURL {
        RedisURL(host: address.host, port: address.port, user: user, password: password, database: database)
    }

    /// The one credentials rule of both schemes: percent-encoded `user:password` before the `@`; an
    /// empty user (`:password@`) is the default user (`AUTH password`).
    static func credentials(user: String?, password: String?) -> (user: String?, password: String?) {
        let user = user.flatMap { $0.isEmpty ? nil : ($0.removingPercentEncoding ?? $0) }
        return (user, password.map { $0.removingPercentEncoding ?? $0 })
    }

    static func database(_ text: Substring) throws(RedisError) -> Int {
        try database(String(text))
    }

    static func database(_ text: String) throws(RedisError) -> Int {
        if text.isEmpty { return 0 }
        guard let db = Int(text), db >= 0 else { throw RedisError(code: .invalidURL, message: "database must be a number, got /\(text)") }
        return db
    }

    /// `URLComponents` takes one host only, so the Sentinel form is split by hand.
    private static func parseSentinel(_ string: String) throws(RedisError) -> RedisURL {
        let usage = "expected redis+sentinel://[[user]:password@]host[:port][,host[:port]…]/master-name[/db], got \(redacted(string))"
        var rest = Substring(string.dropFirst("redis+sentinel://".count))
        var query: [URLQueryItem] = []
        if let mark = rest.firstIndex(of: "?") {
            query = URLComponents(string: "x:?" + rest[rest.index(after: mark)...])?.queryItems ?? []
            rest = rest[..<mark]
        }
        var user: String?, password: String?
        if let at = rest.lastIndex(of: "@") {
            let info = rest[..<at]
            let colon = info.firstIndex(of: ":")
            (user, password) = credentials(user: String(info[..<(colon ?? info.endIndex)]),
                                           password: colon.map { String(info[info.index(after: $0)...]) })
            rest = rest[rest.index(after: at)...]
        }
        let parts = rest.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw RedisError(code: .invalidURL, message: usage) }
        var addresses: [Address] = []
        for item in parts[0].split(separator: ",") {
            guard let address = address(item, defaultPort: 26379) else {
                throw RedisError(code: .invalidURL, message: "bad Sentinel address '\(item)': \(usage)")
            }
            addresses.append(address)
        }
        let db = try database(parts.count > 2 ? parts[2].trimmingCharacters(in: CharacterSet(charactersIn: "/")) : "")
        let master = String(parts[1]).removingPercentEncoding ?? String(parts[1])
        func item(_ name: String) -> String? { query.first { $0.name == name }?.value }
        return try RedisURL(sentinels: addresses, masterName: master, user: user, password: password, database: db,
                            sentinelUser: item("sentinel_user"), sentinelPassword: item("sentinel_password"))
    }

    /// `host`, `host:port` or `[v6]:port`.
    public static func address(_ text: Substring, defaultPort: Int) -> Address? {
        var host = text, port = defaultPort
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let after = text[text.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let p = Int(after.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = text.lastIndex(of: ":") {
            guard let p = Int(text[text.index(after: colon)...]) else { return nil }
            host = text[..<colon]
            port = p
        }
        guard !host.isEmpty, (1...65535).contains(port) else { return nil }
        return Address(host: String(host), port: port)
    }

    static func redacted(_ s: String) -> String {
        guard let at = s.lastIndex(of: "@"), let scheme = s.range(of: "://") else { return s }
        return String(s[..<scheme.upperBound]) + "***" + String(s[at...])
    }
}
