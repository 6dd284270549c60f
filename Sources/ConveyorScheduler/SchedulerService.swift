import ConveyorCore
import ConveyorRedis
import Foundation
import Logging
import ServiceLifecycle

/// The scheduler role: evaluates owners on wake-ups from `cv:scheduler`, plus a periodic sweep over
/// owners with waiting jobs. Many schedulers may run: each owner's admission is one atomic script,
/// so concurrent evaluations never exceed a limit and no wake-up is dropped for want of a lock.
public struct SchedulerService: Service {
    let context: NodeContext
    let evaluator: OwnerEvaluator

    public init(context: NodeContext) {
        self.context = context
        evaluator = OwnerEvaluator(context: context)
    }

    public func run() async throws {
        let consumer = StreamConsumer(context: context, streams: [context.keys.scheduler], group: Groups.scheduler, batchSize: 200) { batch in
            // Wake-ups for the same owner collapse into one evaluation, in arrival order (round-robin).
            var seen = Set<String>()
            var owners: [String] = []
            for item in batch {
                if let owner = item.entry.string("owner"), seen.insert(owner).inserted { owners.append(owner) }
            }
            try await evaluator.evaluate(owners: owners)
            return batch.map { ($0.stream, $0.entry.id) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await consumer.run() }
            group.addTask { await sweepLoop() }
            try await group.waitForAll()
        }
    }

    func sweepLoop() async {
        let interval = Duration.milliseconds(Int(context.settings.sweepIntervalSeconds * 1000))
        await RoleRunner("scheduler sweep", logger: context.logger, every: interval).run { try await sweep() }
    }

    /// The safety net: every owner with waiting jobs is evaluated, and created jobs that never
    /// reached a waiting set (a gatekeeper or hub crash after commit) are put back.
    public func sweep() async throws {
        try await requeueLostJobs()
        let owners = (try await context.redis.send(["SMEMBERS", RedisArgument(context.keys.ownersWaiting)]).array ?? []).compactMap(\.string)
        // In chunks: each is one evaluation pipeline plus one pipeline of prune calls.
        let shuffled = owners.shuffled()
        for start in stride(from: 0, to: shuffled.count, by: 100) {
            let chunk = Array(shuffled[start..<min(shuffled.count, start + 100)])
            try await evaluator.evaluate(owners: chunk)
            let replies = try await context.redis.evaluateMany(context.scripts.prune, calls: chunk.map { owner in
                (keys: [RedisArgument(context.keys.waiting(owner)), RedisArgument(context.keys.ownersWaiting)], args: [RedisArgument(owner)])
            })
            try replies.throwingFirstError()
        }
    }

    func requeueLostJobs() async throws {
        let rows = try await context.postgres.query("""
            SELECT j.id, j.queue, j.priority, (extract(epoch from j.created_at) * 1000)::bigint AS created_ms, o.login, r.slug
            FROM jobs j JOIN owners o ON o.id = j.owner_id JOIN repositories r ON r.id = j.repository_id
            WHERE j.state = 'created' AND j.created_at < now() - make_interval(secs => $1)
              AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.build_id = j.build_id AND k.stage_index < j.stage_index
                              AND k.state IN ('created', 'queued', 'received', 'started'))
            ORDER BY j.id LIMIT 2000
            """, [.double(max(2, context.settings.sweepIntervalSeconds * 2))])
        var byOwner: [String: [SlotBook.WaitingJob]] = [:]
        for row in rows.rows {
            byOwner[try row.decode("login"), default: []].append(SlotBook.WaitingJob(
                job: try row.decode("id"), repo: try row.decode("slug"), queue: try row.decode("queue"),
                priority: try row.decode("priority"), createdMillis: try row.decode("created_ms")))
        }
        // One pipeline for all owners (a round trip per owner cost up to 2,000 per sweep with a large backlog).
        try await context.slots.enqueue(byOwner.sorted { $0.key < $1.key }.map { (owner: $0.key, jobs: $0.value) })
    }
}
