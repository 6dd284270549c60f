import ConveyorCore
import ConveyorPostgres
import ConveyorRedis
import Logging
import Metrics

/// One evaluation of one owner: run the admission script, mark the admitted jobs `queued` in
/// Postgres, and hand them to their queues. A crash between the steps is repaired by the reaper's
/// reconciliation (a slot without a queued job expires; a queued job without a slot is reset).
struct OwnerEvaluator: Sendable {
    let context: NodeContext

    func evaluate(owner: String) async throws {
        try await evaluate(owners: [owner])
    }

    /// Evaluates many owners with one pipeline of admission scripts, one statement for every job
    /// they admitted, and one pipeline of queue entries and events: a wake-up batch costs three
    /// round trips however many owners it names.
    func evaluate(owners: [String]) async throws {
        if owners.isEmpty { return }
        let admissions = try await context.slots.admit(owners: owners, nowMillis: nowMillis())
        Counter(label: "conveyor_scheduler_evaluations_total").increment(by: Int64(owners.count))
        var ownerOf: [Int64: String] = [:]
        for (owner, admission) in zip(owners, admissions) {
            // Travis's familiar scheduler line; at debug level when nothing was admitted (most wake-ups under load).
            context.logger.log(level: admission.admitted.isEmpty ? .debug : .info,
                               "\(owner): total=\(admission.waiting + admission.running), running=\(admission.running), max=\(admission.max), queueable=\(admission.admitted.count)")
            for id in admission.admitted { ownerOf[id] = owner }
        }
        if ownerOf.isEmpty { return }
        let queued = try await context.postgres.query("""
            WITH q AS (
                UPDATE jobs SET state = 'queued', queued_at = now()
                WHERE id = ANY($1::bigint[]) AND state = 'created'
                RETURNING id, attempt, queue, build_id, number, (extract(epoch from queued_at) * 1000)::bigint AS queued_ms
            ), audit AS (
                INSERT INTO job_events (job_id, attempt, seq, kind, applied, note)
                SELECT id, attempt, 0, 'queued', true, 'admitted by scheduler' FROM q
            )
            SELECT * FROM q ORDER BY id
            """, [.array(ownerOf.keys.sorted())])
        var commands: [RedisCommand] = []
        var queues = Set<String>()
        var events: [(String, [String: JSONScalar])] = []
        var queuedIDs = Set<Int64>()
        for row in queued.rows {
            let id: Int64 = try row.decode("id")
            let queue: String = try row.decode("queue")
            let attempt: Int = try row.decode("attempt")
            let owner = ownerOf[id] ?? ""
            queuedIDs.insert(id)
            commands.append(RedisClient.xaddCommand(context.keys.queue(queue), fields: QueueEntry(job: id, attempt: attempt, owner: owner).fields))
            queues.insert(queue)
            events.append(("job:queued", ["job": .int(id), "build": .int(try row.decode("build_id")), "number": .string(try row.decode("number")),
                                          "attempt": .int(Int64(attempt)), "state": .string("queued"), "queue": .string(queue),
                                          "owner": .string(owner), "at": .optional(row["queued_ms"].int64)]))
        }
        if !commands.isEmpty {
            commands += queues.sorted().map { ["SADD", RedisArgument(context.keys.queuesSet), RedisArgument($0)] }
            try await context.redis.pipeline(commands).throwingFirstError()
            try await context.events.publish(events)
        }
        Counter(label: "conveyor_scheduler_admitted_total").increment(by: Int64(queuedIDs.count))
        // Admitted but no longer `created` (canceled meanwhile): give the slot back.
        let lost = ownerOf.filter { !queuedIDs.contains($0.key) }.map { SlotBook.Release(owner: $0.value, job: $0.key, forget: false) }
        try await context.slots.release(lost)
    }
}
