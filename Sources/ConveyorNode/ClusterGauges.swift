import ConveyorCore
import ConveyorRedis
import CoreMetrics
import ServiceLifecycle

/// Cluster-wide gauges read from Redis and Postgres every few seconds: queue depth and lag
/// (`XINFO GROUPS`), pending entries per group, owners' running counts and limits (top owners
/// only, to keep cardinality bounded), jobs by state, live nodes.
struct ClusterGauges: Service {
    let context: NodeContext
    let interval: Duration

    func run() async throws {
        await RoleRunner("gauge collection", logger: context.logger, every: interval, failureLevel: .debug).run { try await collect() }
    }

    func collect() async throws {
        let keys = context.keys
        let queues = (try await context.redis.send(["SMEMBERS", RedisArgument(keys.queuesSet)]).array ?? []).compactMap(\.string)
        for queue in queues {
            let info = try await context.redis.xinfoGroups(keys.queue(queue)).first { $0.name == Groups.workers }
            // Depth: entries not yet claimed (lag) plus entries claimed and not yet finished (pending).
            Gauge(label: "conveyor_queue_depth", dimensions: [("queue", queue)]).record((info?.lag ?? 0) + (info?.pending ?? 0))
            Gauge(label: "conveyor_queue_lag", dimensions: [("queue", queue)]).record(info?.lag ?? 0)
            Gauge(label: "conveyor_stream_pending", dimensions: [("stream", "queue:\(queue)"), ("group", Groups.workers)]).record(info?.pending ?? 0)
        }
        for (stream, group) in [(keys.requests, Groups.gatekeeper), (keys.scheduler, Groups.scheduler), (keys.state, Groups.hub), (keys.logs, Groups.logs), (keys.events, Groups.notify)] {
            let info = try await context.redis.xinfoGroups(stream).first { $0.name == group }
            Gauge(label: "conveyor_stream_pending", dimensions: [("stream", String(stream.dropFirst(keys.prefix.count + 1))), ("group", group)]).record(info?.pending ?? 0)
        }
        let waitingOwners = try await context.redis.send(["SCARD", RedisArgument(keys.ownersWaiting)]).int ?? 0
        Gauge(label: "conveyor_owners_waiting").record(waitingOwners)
        let top = try await context.postgres.query("""
            SELECT o.login, coalesce(o.concurrency_limit, $1) AS max, count(*) AS running FROM jobs j JOIN owners o ON o.id = j.owner_id
            WHERE j.state IN ('queued', 'received', 'started') GROUP BY o.login, o.concurrency_limit ORDER BY running DESC LIMIT 20
            """, [.int(context.settings.defaultOwnerLimit)])
        for row in top.rows {
            let login = row["login"].string ?? ""
            Gauge(label: "conveyor_owner_running", dimensions: [("owner", login)]).record(row["running"].int ?? 0)
            Gauge(label: "conveyor_owner_limit", dimensions: [("owner", login)]).record(row["max"].int ?? 0)
        }
        let states = try await context.postgres.query("SELECT state, count(*) AS n FROM jobs WHERE state IN ('created','queued','received','started') GROUP BY state")
        var counts = ["created": 0, "queued": 0, "received": 0, "started": 0]
        for row in states.rows { counts[row["state"].string ?? ""] = row["n"].int ?? 0 }
        for (state, n) in counts { Gauge(label: "conveyor_jobs", dimensions: [("state", state)]).record(n) }
        let now = nowMillis()
        let alive = try await context.redis.send(["ZCOUNT", RedisArgument(keys.nodesSet), RedisArgument(now - 30_000), "+inf"]).int ?? 0
        Gauge(label: "conveyor_nodes_alive").record(alive)
    }
}
