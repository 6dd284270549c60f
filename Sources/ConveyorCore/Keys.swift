/// Redis key names (docs/architecture.md §3). Owner-scoped keys carry the owner in a hash tag so one owner's
/// keys share a Redis Cluster slot and its Lua scripts stay single-slot.
public struct Keys: Sendable, Hashable {
    public let prefix: String
    public init(prefix: String = "cv") { self.prefix = prefix }

    public var requests: String { "\(prefix):requests" }
    public var scheduler: String { "\(prefix):scheduler" }
    public var state: String { "\(prefix):state" }
    public var logs: String { "\(prefix):logs" }
    public var events: String { "\(prefix):events" }
    public var queuesSet: String { "\(prefix):queues" }
    public var ownersWaiting: String { "\(prefix):owners:waiting" }
    public var nodesSet: String { "\(prefix):nodes" }
    /// Redis's epoch: missing or behind PostgreSQL's record means Redis lost writes (docs/runbook.md).
    public var epoch: String { "\(prefix):epoch" }
    /// Held by the one node rebuilding Redis from PostgreSQL.
    public var repairLock: String { "\(prefix):repair:lock" }

    public func queue(_ name: String) -> String { "\(prefix):queue:\(name)" }
    public func dead(_ stream: String) -> String { "\(prefix):dead:\(stream.dropPrefix("\(prefix):"))" }
    public func waiting(_ owner: String) -> String { "\(prefix):owner:{\(owner)}:waiting" }
    public func running(_ owner: String) -> String { "\(prefix):owner:{\(owner)}:running" }
    public func limits(_ owner: String) -> String { "\(prefix):owner:{\(owner)}:limits" }
    public func jobInfo(_ owner: String) -> String { "\(prefix):owner:{\(owner)}:jobs" }
    public func node(_ id: String) -> String { "\(prefix):node:\(id)" }
    public func cancel(_ job: Int64) -> String { "\(prefix):job:\(job):cancel" }
}

/// Consumer group names.
public enum Groups {
    public static let gatekeeper = "gatekeeper"
    public static let scheduler = "scheduler"
    public static let workers = "workers"
    public static let hub = "hub"
    public static let logs = "logs"
    public static let notify = "notify"
}

extension String {
    func dropPrefix(_ p: String) -> String { hasPrefix(p) ? String(dropFirst(p.count)) : self }
}
