import ConveyorCore
import ConveyorModel
import ConveyorRedis
import Hummingbird

/// Reads the cluster's live state out of Redis for `conveyor queues|owners|nodes` and the API.
public struct ClusterInspector: Sendable {
    let context: NodeContext
    public init(context: NodeContext) { self.context = context }

    struct QueueJSON: Codable, Sendable { var name: String; var stream: String; var length: Int; var pending: Int; var lag: Int?; var consumers: Int }
    struct StreamJSON: Codable, Sendable { var stream: String; var group: String; var length: Int; var pending: Int; var lag: Int? }
    struct QueuesReport: ResponseEncodable, Sendable { var queues: [QueueJSON]; var streams: [StreamJSON] }

    struct NodeJSON: Codable, Sendable {
        var id: String
        var status: String
        var roles: String?
        var slots: Int?
        var busy: Int?
        var version: String?
        var lastSeenMS: Int64?
        var rss: Int?
        enum CodingKeys: String, CodingKey { case id, status, roles, slots, busy, version, rss, lastSeenMS = "last_seen_ms" }
    }
    struct NodesReport: ResponseEncodable, Sendable { var nodes: [NodeJSON] }

    struct OwnerJSON: Codable, Sendable { var login: String; var limit: Int; var running: Int; var waiting: Int }
    struct OwnersReport: ResponseEncodable, Sendable { var owners: [OwnerJSON] }

    func queues() async throws -> QueuesReport {
        let names = (try await context.redis.send(["SMEMBERS", RedisArgument(context.keys.queuesSet)]).array ?? []).compactMap(\.string).sorted()
        var list: [QueueJSON] = []
        for name in names {
            let stream = context.keys.queue(name)
            let length = try await context.redis.xlen(stream)
            let group = try await context.redis.xinfoGroups(stream).first { $0.name == Groups.workers }
            list.append(QueueJSON(name: name, stream: stream, length: length, pending: group?.pending ?? 0, lag: group?.lag, consumers: group?.consumers ?? 0))
        }
        var streams: [StreamJSON] = []
        let keys = context.keys
        for (stream, group) in [(keys.requests, Groups.gatekeeper), (keys.scheduler, Groups.scheduler), (keys.state, Groups.hub), (keys.logs, Groups.logs), (keys.events, Groups.notify)] {
            let info = try await context.redis.xinfoGroups(stream).first { $0.name == group }
            streams.append(StreamJSON(stream: stream, group: group, length: try await context.redis.xlen(stream), pending: info?.pending ?? 0, lag: info?.lag))
        }
        return QueuesReport(queues: list, streams: streams)
    }

    func nodes() async throws -> NodesReport {
        let ids = (try await context.redis.send(["ZRANGE", RedisArgument(context.keys.nodesSet), "0", "-1", "WITHSCORES"]).array ?? [])
        var list: [NodeJSON] = []
        var i = 0
        while i + 1 < ids.count {
            let id = ids[i].string ?? ""
            let lastSeen = ids[i + 1].int ?? ids[i + 1].string.flatMap { Double($0) }.map { Int64($0) }
            let hash = try await context.redis.send(["HGETALL", RedisArgument(context.keys.node(id))]).stringPairs
            let status = hash.isEmpty ? "dead" : (hash["state"] ?? "running")
            list.append(NodeJSON(id: id, status: status, roles: hash["roles"], slots: hash["slots"].flatMap { Int($0) }, busy: hash["busy"].flatMap { Int($0) },
                                 version: hash["version"], lastSeenMS: lastSeen, rss: hash["rss"].flatMap { Int($0) }))
            i += 2
        }
        return NodesReport(nodes: list)
    }

    func owners() async throws -> OwnersReport {
        // Counts only active jobs (the partial indexes of migrations 0001/0014), not every job ever run:
        // joining all jobs took 1.1 s with a million job rows (bench/README.md, backlog), this ~80 ms.
        let rows = try await context.postgres.read("""
            SELECT o.login, o.concurrency_limit, coalesce(a.running, 0) AS running, coalesce(a.waiting, 0) AS waiting
            FROM owners o LEFT JOIN (
                SELECT owner_id, count(*) FILTER (WHERE state <> 'created') AS running, count(*) FILTER (WHERE state = 'created') AS waiting
                FROM jobs WHERE state IN ('created', 'queued', 'received', 'started') GROUP BY owner_id) a ON a.owner_id = o.id
            ORDER BY o.login
            """)
        return OwnersReport(owners: try rows.rows.map { row in
            OwnerJSON(login: try row.decode("login"), limit: try row.decode("concurrency_limit", as: Int?.self) ?? context.settings.defaultOwnerLimit,
                      running: try row.decode("running"), waiting: try row.decode("waiting"))
        })
    }
}
