/// One stream entry. `fields` is nil when the entry was deleted from the stream while pending.
public struct StreamEntry: Sendable, Hashable {
    public var id: String
    public var fields: [String: [UInt8]]?

    public init(id: String, fields: [String: [UInt8]]?) {
        self.id = id
        self.fields = fields
    }

    public func string(_ field: String) -> String? {
        fields?[field].map { String(decoding: $0, as: UTF8.self) }
    }

    static func parse(_ value: RedisValue) -> StreamEntry? {
        guard let parts = value.array, parts.count >= 1, let id = parts[0].string else { return nil }
        guard parts.count >= 2, let list = parts[1].array else { return StreamEntry(id: id, fields: nil) }
        var fields: [String: [UInt8]] = [:]
        var i = 0
        while i + 1 < list.count {
            if let key = list[i].string { fields[key] = list[i + 1].bytes ?? [] }
            i += 2
        }
        return StreamEntry(id: id, fields: fields)
    }

    static func parseList(_ value: RedisValue) -> [StreamEntry] {
        (value.array ?? []).compactMap(parse)
    }
}

/// Trimming applied by `XADD`.
public enum StreamTrim: Sendable {
    case none
    case maxLenApprox(Int)
    case minID(String)

    var arguments: [RedisArgument] {
        switch self {
        case .none: return []
        case .maxLenApprox(let n): return ["MAXLEN", "~", RedisArgument(n)]
        case .minID(let id): return ["MINID", RedisArgument(id)]
        }
    }
}

/// `XPENDING` summary.
public struct PendingSummary: Sendable {
    public var count: Int
    public var smallestID: String?
    public var largestID: String?
    public var consumers: [String: Int]
}

/// One row of extended `XPENDING`.
public struct PendingEntry: Sendable, Hashable {
    public var id: String
    public var consumer: String
    public var idleMilliseconds: Int64
    public var deliveries: Int64
}

/// Reply of `XAUTOCLAIM`: claimed entries, the ids that no longer exist in the stream (removed from
/// the PEL by Redis), and the cursor to continue from ("0-0" when the scan is complete).
public struct AutoClaimBatch: Sendable {
    public var nextCursor: String
    public var claimed: [StreamEntry]
    public var deletedIDs: [String]
}

/// One row of `XINFO GROUPS`.
public struct StreamGroupInfo: Sendable {
    public var name: String
    public var consumers: Int
    public var pending: Int
    public var lastDeliveredID: String
    public var lag: Int?
}

public func fieldArguments(_ fields: [(String, RedisArgument)]) -> [RedisArgument] {
    fields.flatMap { [RedisArgument($0.0), $0.1] }
}
