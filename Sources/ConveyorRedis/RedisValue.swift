/// A typed Redis reply (RESP2).
public enum RedisValue: Sendable, Hashable {
    case simple(String)
    case bulk([UInt8])
    case integer(Int64)
    case array([RedisValue])
    case null
    case error(String)

    /// The reply as text: bulk strings decoded as UTF-8 (lossy), simple strings and integers as written.
    public var string: String? {
        switch self {
        case .simple(let s): return s
        case .bulk(let b): return String(decoding: b, as: UTF8.self)
        case .integer(let i): return String(i)
        default: return nil
        }
    }

    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let b): return b
        case .simple(let s): return Array(s.utf8)
        default: return nil
        }
    }

    public var int: Int64? {
        switch self {
        case .integer(let i): return i
        case .bulk, .simple: return string.flatMap { Int64($0) }
        default: return nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Throws the server's error if this reply is one.
    @discardableResult
    public func throwingError() throws(RedisError) -> RedisValue {
        if case .error(let message) = self { throw RedisError.server(message) }
        return self
    }

    /// Reads a flat `[field, value, field, value…]` reply as a dictionary of strings.
    public var stringPairs: [String: String] {
        guard let items = array else { return [:] }
        var out: [String: String] = [:]
        var i = 0
        while i + 1 < items.count {
            if let k = items[i].string { out[k] = items[i + 1].string ?? "" }
            i += 2
        }
        return out
    }
}

extension Array where Element == RedisValue {
    /// Throws the first server error among a pipeline's replies (each command's error stays in its
    /// own reply; callers that need them all together use this).
    public func throwingFirstError() throws(RedisError) {
        for case .error(let message) in self { throw RedisError.server(message) }
    }
}
