import ConveyorCore
import ConveyorModel
import ConveyorRedis
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// The reaper role (docs/architecture.md §4): reclaims work of dead workers, dead-letters poison entries,
/// cleans up dead nodes once their work is handed over, and reconciles Postgres with Redis.
/// Entries of the other streams are reclaimed by the live consumers of each role (`StreamConsumer`).
public struct ReaperService: Service {
    let context: NodeContext

    public init(context: NodeContext) { self.context = context }

    public func run() async throws {
        let interval = Duration.milliseconds(Int(context.settings.sweepIntervalSeconds * 1000))
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var masterChanges = context.redis.endpoint.masterChanges
                await RoleRunner("reaper pass", logger: context.logger, every: interval).run {
                    // First: a Redis that lost writes is rebuilt before anything is reconciled against it.
                    let changes = context.redis.endpoint.masterChanges
                    try await checkEpoch(failover: changes != masterChanges)
                    masterChanges = changes
                    try await reconcile()
                    try await cleanUpNodes()
                }
            }
            group.addTask {
                await RoleRunner("reaper reclaim", logger: context.logger, every: Self.reclaimInterval(context.settings)).run {
                    try await reclaimQueues()
                }
            }
        }
    }

    /// How often queue entries are checked for dead workers. An entry becomes claimable `lease` after its
    /// worker's last renewal; checking only once per sweep added up to a whole sweep interval (5 s by
    /// default) to every reclaim (bench/reclaim). A check is one `XAUTOCLAIM` per queue, cheap to run
    /// twice a second; the min-idle stays the lease, so live jobs (renewed every lease/3) are never claimed.
    static func reclaimInterval(_ settings: Settings) -> Duration {
        .milliseconds(Int(min(settings.sweepIntervalSeconds, 0.5) * 1000))
    }

    /// Repairs Redis when its epoch is missing or behind, or after a failover (a promoted replica
    /// may lack the last writes even when its epoch is current); otherwise advances the epoch.
    public func checkEpoch(failover: Bool) async throws {
        let epoch = RedisEpoch(context: context)
        let status = try await epoch.check()
        if status.needsRepair || failover {
            _ = try await RedisRepair(context: context).repair(reason: failover ? "Redis master changed (\(status))" : "epoch \(status)")
        } else {
            try await epoch.advance()
        }
    }

    /// Queue entries idle past the lease belong to dead workers: the job gets a new attempt
    /// (`reset`, reason worker_lost) through the hub; past max deliveries it is dead-lettered.
    public func reclaimQueues() async throws {
        let keys = context.keys
        let queues = (try await context.redis.send(["SMEMBERS", RedisArgument(keys.queuesSet)]).array ?? []).compactMap(\.string)
        let consumer = "reaper-\(context.settings.nodeID)"
        for queue in queues {
            let stream = keys.queue(queue)
            try await context.redis.ensureGroup(stream, group: Groups.workers)
            try await context.redis.xautoclaimAll(stream, group: Groups.workers, consumer: consumer, minIdleMilliseconds: context.settings.leaseMilliseconds) { batch in
                Counter(label: "conveyor_reaper_reclaimed_total", dimensions: [("queue", queue)]).increment(by: Int64(batch.claimed.count))
                for entry in batch.claimed { try await handleLost(entry, stream: stream) }
            }
        }
    }

    func handleLost(_ entry: StreamEntry, stream: String) async throws {
        guard let job = QueueEntry(entry) else {
            try await context.redis.xack(stream, group: Groups.workers, ids: [entry.id])
            return
        }
        let deliveries = try await context.redis.xpending(stream, group: Groups.workers, start: entry.id, end: entry.id, count: 1).first?.deliveries ?? 0
        let update: StateUpdate
        if deliveries > Int64(context.settings.maxDeliveries) {
            var fields = job.fields
            fields.append(("reason", RedisArgument("delivered \(deliveries) times without finishing")))
            fields.append(("stream", RedisArgument(stream)))
            try await context.redis.xadd(context.keys.dead(stream), fields: fields, trim: .maxLenApprox(100_000))
            Counter(label: "conveyor_reaper_dead_lettered_total").increment()
            update = StateUpdate(job: job.job, event: JobEvent(kind: .finished, attempt: job.attempt, seq: 1_000_000, at: nowMillis(), result: .errored,
                                                               reason: "dead-lettered after \(deliveries) deliveries"), worker: "reaper")
        } else {
            update = StateUpdate(job: job.job, event: JobEvent(kind: .reset, attempt: job.attempt, seq: 0, at: nowMillis(), reason: "worker_lost"), worker: "reaper")
        }
        try await context.redis.xadd(context.keys.state, fields: update.fields)
        try await context.redis.xack(stream, group: Groups.workers, ids: [entry.id])
        context.logger.info("reclaimed job of a lost worker", metadata: ["job": "\(job.job)", "attempt": "\(job.attempt)", "deliveries": "\(deliveries)"])
    }

    /// Jobs active in Postgres whose slot lease has lapsed are reset; slots held by jobs that
    /// already finished are released.
    public func reconcile() async throws {
        let lease = context.settings.leaseMilliseconds
        let now = nowMillis()
        let active = try await context.postgres.query("""
            SELECT j.id, j.attempt, o.login FROM jobs j JOIN owners o ON o.id = j.owner_id
            WHERE j.state IN ('queued', 'received', 'started') AND j.queued_at < now() - make_interval(secs => $1)
            ORDER BY j.id LIMIT 5000
            """, [.double(Double(lease) / 1000 * 2)])
        // One pipelined ZSCORE per active job, not a round trip each.
        let activeJobs = active.rows.compactMap { row -> (Int64, Int, String)? in
            guard let id = row["id"].int64, let attempt = row["attempt"].int, let owner = row["login"].string else { return nil }
            return (id, attempt, owner)
        }
        let scores = try await context.redis.pipeline(activeJobs.map { ["ZSCORE", RedisArgument(context.keys.running($0.2)), RedisArgument($0.0)] })
        var resets = 0
        for ((id, attempt, _), score) in zip(activeJobs, scores) {
            if let deadline = score.string.flatMap({ Double($0) }), Int64(deadline) + Int64(lease) > now { continue }
            let update = StateUpdate(job: id, event: JobEvent(kind: .reset, attempt: attempt, seq: 0, at: now, reason: "lease_expired"), worker: "reaper")
            try await context.redis.xadd(context.keys.state, fields: update.fields)
            resets += 1
        }
        var released = 0
        let owners = try await context.postgres.query("SELECT login FROM owners ORDER BY id")
        for row in owners.rows {
            guard let owner = row["login"].string else { continue }
            let held = (try await context.redis.send(["ZRANGE", RedisArgument(context.keys.running(owner)), "0", "-1"]).array ?? []).compactMap(\.int)
            if held.isEmpty { continue }
            let ids = "{" + held.map(String.init).joined(separator: ",") + "}"
            let finished = try await context.postgres.query("""
                SELECT id FROM jobs WHERE id = ANY($1::bigint[]) AND state IN ('passed', 'failed', 'errored', 'canceled')
                """, [.text(ids)])
            for job in finished.rows.compactMap({ $0["id"].int64 }) {
                try await context.slots.release(owner: owner, job: job, forget: true)
                try await context.slots.wake(owner: owner, reason: "reconciled")
                released += 1
            }
        }
        if resets + released > 0 {
            Counter(label: "conveyor_reaper_reconciliations_total").increment(by: Int64(resets + released))
            context.logger.info("reconciled", metadata: ["reset": "\(resets)", "released": "\(released)"])
        }
    }

    /// Nodes whose heartbeat expired are listed as dead until every group has handed their
    /// pending entries over; only then are they removed (never `DELCONSUMER` with pending entries).
    public func cleanUpNodes() async throws {
        let keys = context.keys
        // Dead nodes stay listed (`conveyor nodes`) for ten minutes after their last heartbeat.
        let ids = (try await context.redis.send(["ZRANGEBYSCORE", RedisArgument(keys.nodesSet), "-inf", RedisArgument(nowMillis() - 600_000)]).array ?? []).compactMap(\.string)
        let queues = (try await context.redis.send(["SMEMBERS", RedisArgument(keys.queuesSet)]).array ?? []).compactMap(\.string)
        let groups: [(String, String)] = [(keys.requests, Groups.gatekeeper), (keys.scheduler, Groups.scheduler), (keys.state, Groups.hub),
                                          (keys.logs, Groups.logs), (keys.events, Groups.notify)] + queues.map { (keys.queue($0), Groups.workers) }
        for id in ids {
            let alive = try await context.redis.send(["EXISTS", RedisArgument(keys.node(id))]).int ?? 0
            if alive == 1 { continue }
            var pending = 0
            for (stream, group) in groups {
                pending += try await context.redis.xpendingSummary(stream, group: group).consumers[id] ?? 0
            }
            if pending > 0 { continue }
            for (stream, group) in groups {
                _ = try? await context.redis.send(["XGROUP", "DELCONSUMER", RedisArgument(stream), RedisArgument(group), RedisArgument(id)])
            }
            try await context.redis.send(["ZREM", RedisArgument(keys.nodesSet), RedisArgument(id)])
            context.logger.info("removed dead node after its work was handed over", metadata: ["node": "\(id)"])
        }
    }
}
