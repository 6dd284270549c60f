import ConveyorCore
import ConveyorModel
import ConveyorRedis

/// Reads the cluster's live state out of Redis for `conveyor queues|owners|nodes` and the API.
public struct ClusterInspector: Sendable {
    let context: NodeContext
    public init(context: NodeContext) { self.context = context }

    public func queues() async throws -> JSONValue {
        let names = (try await context.redis.send(["SMEMBERS", RedisArgument(context.keys.queuesSet)]).array ?? []).compactMap(\.string).sorted()
        var list: [JSONValue] = []
        for name in names {
            let stream = context.keys.queue(name)
            let length = try await context.redis.xlen(stream)
            let group = try await context.redis.xinfoGroups(stream).first { $0.name == Groups.workers }
            list.append(.object(["name": .string(name), "stream": .string(stream), "length": .int(length),
                                 "pending": .int(group?.pending ?? 0), "lag": group?.lag.map(JSONValue.int) ?? .null,
                                 "consumers": .int(group?.consumers ?? 0)]))
        }
        var streams: [JSONValue] = []
        let keys = context.keys
        for (stream, group) in [(keys.requests, Groups.gatekeeper), (keys.scheduler, Groups.scheduler), (keys.state, Groups.hub), (keys.logs, Groups.logs), (keys.events, Groups.notify)] {
            let info = try await context.redis.xinfoGroups(stream).first { $0.name == group }
            streams.append(.object(["stream": .string(stream), "group": .string(group), "length": .int(try await context.redis.xlen(stream)),
                                    "pending": .int(info?.pending ?? 0), "lag": info?.lag.map(JSONValue.int) ?? .null]))
        }
        return .object(["queues": .array(list), "streams": .array(streams)])
    }

    public func nodes() async throws -> JSONValue {
        let ids = (try await context.redis.send(["ZRANGE", RedisArgument(context.keys.nodesSet), "0", "-1", "WITHSCORES"]).array ?? [])
        var list: [JSONValue] = []
        var i = 0
        while i + 1 < ids.count {
            let id = ids[i].string ?? ""
            let lastSeen = ids[i + 1].int ?? Int64(Double(ids[i + 1].string ?? "0") ?? 0)
            let hash = try await context.redis.send(["HGETALL", RedisArgument(context.keys.node(id))]).stringPairs
            let status = hash.isEmpty ? "dead" : (hash["state"] ?? "running")
            list.append(.object(["id": .string(id), "status": .string(status), "roles": .string(hash["roles"] ?? ""),
                                 "slots": .int(Int(hash["slots"] ?? "") ?? 0), "busy": .int(Int(hash["busy"] ?? "") ?? 0),
                                 "version": .string(hash["version"] ?? ""), "last_seen_ms": .int(Int(lastSeen)),
                                 "rss": .int(Int(hash["rss"] ?? "") ?? 0)]))
            i += 2
        }
        return .object(["nodes": .array(list)])
    }

    public func owners() async throws -> JSONValue {
        let rows = try await context.postgres.query("""
            SELECT o.login, o.concurrency_limit, count(j.id) FILTER (WHERE j.state IN ('queued','received','started')) AS running,
                   count(j.id) FILTER (WHERE j.state = 'created') AS waiting
            FROM owners o LEFT JOIN jobs j ON j.owner_id = o.id GROUP BY o.login, o.concurrency_limit ORDER BY o.login
            """)
        return .object(["owners": .array(rows.rows.map { row in
            .object(["login": .string(row["login"].string ?? ""), "limit": .int(row["concurrency_limit"].int ?? context.settings.defaultOwnerLimit),
                     "running": .int(row["running"].int ?? 0), "waiting": .int(row["waiting"].int ?? 0)])
        })])
    }
}
