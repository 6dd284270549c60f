import ConveyorRedis
import Foundation
import ServiceLifecycle

/// Keeps `cv:node:<id>` alive (hash + TTL) with the node's roles, version, slots and busy count,
/// and lists the node in `cv:nodes` so dead ones can be found after their hash expires.
public struct Heartbeat: Service {
    public static let version = "0.1.0"
    let context: NodeContext
    let interval: Duration

    public init(context: NodeContext, interval: Duration = .seconds(5)) {
        self.context = context
        self.interval = interval
    }

    public func run() async throws {
        let keys = context.keys
        let id = context.settings.nodeID
        await RoleRunner("heartbeat", logger: context.logger, every: interval).run { try await beat(keys: keys, id: id) }
        // Clean shutdown: say so, so operators don't see this node as dead.
        _ = try? await context.redis.pipeline([["HSET", RedisArgument(keys.node(id)), "state", "stopped"],
                                               ["EXPIRE", RedisArgument(keys.node(id)), "60"]])
    }

    func beat(keys: Keys, id: String) async throws {
        let ttl = Int(max(15, context.settings.leaseSeconds))
        let fields: [(String, String)] = [
            ("roles", context.settings.roles.sorted().map(\.rawValue).joined(separator: ",")),
            ("version", Self.version), ("slots", String(context.status.slots)), ("busy", String(context.status.busy)),
            ("started", String(context.status.started)), ("seen", String(nowMillis())), ("rss", String(Self.residentBytes())),
            ("state", "running"), ("pid", String(getpid())),
        ]
        let hset: RedisCommand = ["HSET", RedisArgument(keys.node(id))] + fields.flatMap { [RedisArgument($0.0), RedisArgument($0.1)] }
        _ = try await context.redis.pipeline([
            hset, ["EXPIRE", RedisArgument(keys.node(id)), RedisArgument(ttl)],
            ["ZADD", RedisArgument(keys.nodesSet), RedisArgument(nowMillis()), RedisArgument(id)],
        ])
    }

    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let pages = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
