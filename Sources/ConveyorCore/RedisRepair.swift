import ConveyorPostgres
import ConveyorRedis
import ConveyorThreads
import Foundation
import Metrics

/// Rebuilds what Redis lost from PostgreSQL, the record of truth (docs/runbook.md#redis-lost-or-behind).
///
/// Every step is idempotent and safe while the cluster runs, so any node may repair, and twice
/// is harmless; a lock (`cv:repair:lock`) keeps it to one node at a time. In order:
/// 1. consumer groups of every stream (and the set of queues);
/// 2. per owner with active jobs: limits, job info, and a slot (lease now + lease) for each job
///    `queued`, `received` or `started` — before anything can be admitted, so limits hold;
/// 3. queue entries of `queued` jobs whose entry is gone (their worker never got them);
/// 4. waiting sets: `created` jobs whose earlier stages are done;
/// 5. pending build requests, back on `cv:requests`;
/// 6. the epoch, which opens the admission script's gate again.
/// Jobs running on live workers keep running: their workers re-establish their leases
/// (`JobMonitor`); jobs of dead workers expire and are reset by the reaper.
public struct RedisRepair: Sendable {
    let context: NodeContext

    public init(context: NodeContext) { self.context = context }

    public struct Report: Sendable, Codable, Equatable {
        public var reason = ""
        public var groups = 0
        public var owners = 0
        public var slots = 0
        public var requeued = 0
        public var waiting = 0
        public var requests = 0
        public var epoch: Int64 = 0
    }

    /// A `queued` job younger than this may have its entry still on the way (admission writes
    /// PostgreSQL, then the queue entry): it is left alone.
    static let queuedGraceMilliseconds: Int64 = 5_000

    /// Repairs if the epoch says Redis lost writes (or `force`); nil when nothing was done.
    /// When another node holds the lock, waits (bounded) for it to finish instead.
    public func ensure(force: Bool = false, reason: String? = nil) async throws -> Report? {
        let status = try await RedisEpoch(context: context).check()
        guard force || status.needsRepair else { return nil }
        return try await repair(reason: reason ?? "epoch \(status)")
    }

    /// Takes the lock and repairs; if another node repairs right now, waits for it (up to a minute).
    public func repair(reason: String) async throws -> Report? {
        let token = "\(context.settings.nodeID)-\(UInt64.random(in: 0...UInt64.max))"
        let got = try await context.redis.send(["SET", RedisArgument(context.keys.repairLock), RedisArgument(token), "NX", "PX", "60000"])
        guard got == .simple("OK") else {
            for _ in 0..<600 {
                if try await context.redis.send(["EXISTS", RedisArgument(context.keys.repairLock)]).int == 0 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            return nil
        }
        let redis = context.redis, lock = context.keys.repairLock
        return try await withCleanup {
            try await rebuild(reason: reason)
        } cleanup: {
            // Released only if still ours (it expires after a minute otherwise).
            _ = try? await redis.send(["EVAL", "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
                                       "1", RedisArgument(lock), RedisArgument(token)])
        }
    }

    /// The repair's steps, with the lock held.
    private func rebuild(reason: String) async throws -> Report {
        context.logger.warning("rebuilding Redis from PostgreSQL", metadata: ["reason": "\(reason)"])
        var report = Report(reason: reason)
        let queues = try await repairGroups(&report)
        try await repairOwners(&report)
        try await requeue(queues: queues, &report)
        try await repairWaiting(&report)
        try await restream(&report)
        report.epoch = try await RedisEpoch(context: context).restore(reason: reason)
        Counter(label: "conveyor_redis_repairs_total").increment()
        context.logger.warning("Redis rebuilt from PostgreSQL", metadata: [
            "owners": "\(report.owners)", "slots": "\(report.slots)", "requeued": "\(report.requeued)", "waiting": "\(report.waiting)",
            "requests": "\(report.requests)", "epoch": "\(report.epoch)",
        ])
        return report
    }

    /// Every stream's consumer group, and `cv:queues`; returns the queue names.
    func repairGroups(_ report: inout Report) async throws -> [String] {
        let keys = context.keys
        let known = (try await context.redis.send(["SMEMBERS", RedisArgument(keys.queuesSet)]).array ?? []).compactMap(\.string)
        let active = try await context.postgres.query("SELECT DISTINCT queue FROM jobs WHERE state IN ('created', 'queued', 'received', 'started')")
        var queues = Set(known + context.settings.workerQueues)
        for row in active.rows { if let q = row["queue"].string { queues.insert(q) } }
        let fixed: [(String, String)] = [(keys.requests, Groups.gatekeeper), (keys.scheduler, Groups.scheduler), (keys.state, Groups.hub),
                                         (keys.logs, Groups.logs), (keys.events, Groups.notify)]
        for (stream, group) in fixed + queues.sorted().map({ (keys.queue($0), Groups.workers) }) {
            try await context.redis.ensureGroup(stream, group: group)
            report.groups += 1
        }
        if !queues.isEmpty {
            try await context.redis.send(["SADD", RedisArgument(keys.queuesSet)] + queues.sorted().map { RedisArgument($0) })
        }
        return queues.sorted()
    }

    /// Limits, job info and slots of every owner with jobs past `created`.
    func repairOwners(_ report: inout Report) async throws {
        let rows = try await context.postgres.query("""
            SELECT j.id, j.state, j.queue, o.login, o.concurrency_limit, o.queue_limits::text AS queue_limits, r.slug, r.max_concurrent_jobs
            FROM jobs j JOIN owners o ON o.id = j.owner_id JOIN repositories r ON r.id = j.repository_id
            WHERE j.state IN ('created', 'queued', 'received', 'started') ORDER BY j.id
            """)
        struct Owner {
            var max: Int
            var queueLimits: [String: Int]
            var repoLimits: [String: Int] = [:]
            var info: [RedisArgument] = []
            var slots: [RedisArgument] = []
        }
        var owners: [String: Owner] = [:]
        let deadline = RedisArgument(nowMillis() + Int64(context.settings.leaseMilliseconds))
        for row in rows.rows {
            let login: String = try row.decode("login")
            let slug: String = try row.decode("slug")
            let queue: String = try row.decode("queue")
            let id: Int64 = try row.decode("id")
            if owners[login] == nil {
                owners[login] = Owner(
                    max: row["concurrency_limit"].int ?? context.settings.defaultOwnerLimit,
                    queueLimits: (try? JSONDecoder().decode([String: Int].self, from: Data((row["queue_limits"].string ?? "{}").utf8))) ?? [:])
            }
            // Mutated in place: a copy out and back would copy the growing arrays once per job.
            if let limit = row["max_concurrent_jobs"].int { owners[login]!.repoLimits[slug] = limit }
            owners[login]!.info += [RedisArgument(id), RedisArgument("\(slug)\t\(queue)")]
            if row["state"].string != "created" {
                owners[login]!.slots += [deadline, RedisArgument(id)]
                report.slots += 1
            }
        }
        // A few commands per owner (job info, slots, limits), sent in large pipelines: one round trip per owner
        // made the rebuild of 100,000 waiting jobs over 10,000 owners take 26 s (bench/backlog).
        var commands: [RedisCommand] = []
        for (login, owner) in owners.sorted(by: { $0.key < $1.key }) {
            commands.append(["HSET", RedisArgument(context.keys.jobInfo(login))] + owner.info)
            // NX: a live lease is never shortened; a lost one comes back for one lease.
            if !owner.slots.isEmpty { commands.append(["ZADD", RedisArgument(context.keys.running(login)), "NX"] + owner.slots) }
            commands.append(context.slots.limitsCommand(owner: login, max: owner.max, repoLimits: owner.repoLimits, queueLimits: owner.queueLimits))
        }
        for start in stride(from: 0, to: commands.count, by: 3_000) {
            try await context.redis.pipeline(Array(commands[start..<min(commands.count, start + 3_000)])).throwingFirstError()
        }
        report.owners = owners.count
    }

    /// `queued` jobs (older than the grace) whose queue entry for their attempt is gone get a new one.
    func requeue(queues: [String], _ report: inout Report) async throws {
        let rows = try await context.postgres.query("""
            SELECT j.id, j.attempt, j.queue, o.login FROM jobs j JOIN owners o ON o.id = j.owner_id
            WHERE j.state = 'queued' AND j.queued_at < now() - make_interval(secs => $1) ORDER BY j.id
            """, [.double(Double(Self.queuedGraceMilliseconds) / 1000)])
        if rows.rows.isEmpty { return }
        var present: [String: Set<QueueEntry>] = [:]
        for queue in Set(rows.rows.compactMap { $0["queue"].string }) {
            present[queue] = try await entries(of: context.keys.queue(queue))
        }
        var commands: [RedisCommand] = []
        for row in rows.rows {
            let entry = QueueEntry(job: try row.decode("id"), attempt: try row.decode("attempt"), owner: try row.decode("login"))
            let queue: String = try row.decode("queue")
            if present[queue, default: []].contains(entry) { continue }
            commands.append(RedisClient.xaddCommand(context.keys.queue(queue), fields: entry.fields))
        }
        if commands.isEmpty { return }
        try await context.redis.pipeline(commands).throwingFirstError()
        report.requeued = commands.count
    }

    /// Every (job, attempt) with an entry in a queue stream.
    private func entries(of stream: String) async throws -> Set<QueueEntry> {
        var found = Set<QueueEntry>()
        var start = "-"
        while true {
            let page = (try await context.redis.send(["XRANGE", RedisArgument(stream), RedisArgument(start), "+", "COUNT", "1000"]).array ?? [])
            for item in page {
                guard let parts = item.array, parts.count == 2, let id = parts[0].string else { continue }
                let fields = parts[1].array ?? []
                var values: [String: String] = [:]
                for i in stride(from: 0, to: fields.count - 1, by: 2) {
                    if let k = fields[i].string, let v = fields[i + 1].string { values[k] = v }
                }
                if let job = values["job"].flatMap({ Int64($0) }), let attempt = values["attempt"].flatMap({ Int($0) }) {
                    found.insert(QueueEntry(job: job, attempt: attempt, owner: values["owner"] ?? ""))
                }
                start = "(" + id
            }
            if page.count < 1000 { return found }
        }
    }

    /// `created` jobs whose earlier stages are done, back in their owners' waiting sets.
    func repairWaiting(_ report: inout Report) async throws {
        let rows = try await context.postgres.query("""
            SELECT j.id, j.queue, j.priority, (extract(epoch from j.created_at) * 1000)::bigint AS created_ms, o.login, r.slug
            FROM jobs j JOIN owners o ON o.id = j.owner_id JOIN repositories r ON r.id = j.repository_id
            WHERE j.state = 'created'
              AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.build_id = j.build_id AND k.stage_index < j.stage_index
                              AND k.state IN ('created', 'queued', 'received', 'started'))
            ORDER BY j.id
            """)
        var byOwner: [String: [SlotBook.WaitingJob]] = [:]
        for row in rows.rows {
            byOwner[try row.decode("login"), default: []].append(SlotBook.WaitingJob(
                job: try row.decode("id"), repo: try row.decode("slug"), queue: try row.decode("queue"),
                priority: try row.decode("priority"), createdMillis: try row.decode("created_ms")))
        }
        try await context.slots.enqueue(byOwner.sorted { $0.key < $1.key }.map { (owner: $0.key, jobs: $0.value) })
        report.waiting = rows.rows.count
    }

    /// Requests not yet turned into builds go back on `cv:requests` (handling one twice is harmless).
    func restream(_ report: inout Report) async throws {
        let rows = try await context.postgres.query("SELECT id FROM requests WHERE state = 'pending' ORDER BY id LIMIT 10000")
        let commands: [RedisCommand] = rows.rows.compactMap { row in
            row["id"].int64.map { RedisClient.xaddCommand(context.keys.requests, fields: [("request", RedisArgument($0))]) }
        }
        if commands.isEmpty { return }
        try await context.redis.pipeline(commands).throwingFirstError()
        report.requests = commands.count
    }
}
