import ConveyorCore
import ConveyorRedis

/// Carries out `HubEffects` against Redis, in an order that keeps every intermediate state safe:
/// cancel keys first (a worker claiming the job skips it), then slots, then waiting sets, then events.
struct EffectRunner: Sendable {
    let context: NodeContext
    /// TTL of `cv:job:<id>:cancel`: long enough for any worker to notice.
    static let cancelKeySeconds = 3600

    func run(_ effects: HubEffects) async throws {
        let keys = context.keys
        var commands: [RedisCommand] = effects.setCancelKeys.map {
            ["SET", RedisArgument(keys.cancel($0)), "1", "EX", RedisArgument(Self.cancelKeySeconds)]
        }
        commands += effects.clearCancelKeys.map { ["DEL", RedisArgument(keys.cancel($0))] }
        if !commands.isEmpty { try await context.redis.pipeline(commands).throwingFirstError() }

        // Each step is one pipeline however many jobs the effects cover (a batch of updates).
        let slots = context.slots
        try await slots.release(effects.releases.map { SlotBook.Release(owner: $0.owner, job: $0.job, forget: $0.forget) })
        var byOwner: [String: [SlotBook.WaitingJob]] = [:]
        for entry in effects.enqueues {
            byOwner[entry.owner, default: []].append(SlotBook.WaitingJob(job: entry.job, repo: entry.repo, queue: entry.queue,
                                                                          priority: entry.priority, createdMillis: entry.createdMillis))
        }
        let enqueues = byOwner.sorted { $0.key < $1.key }.map { (owner: $0.key, jobs: $0.value) }
        try await slots.enqueue(enqueues) // also wakes those owners
        let woken = Set(byOwner.keys)
        try await slots.wake(owners: effects.wakes.filter { !woken.contains($0) }, reason: "hub")
        if !effects.events.isEmpty {
            let trim = StreamTrim.maxLenApprox(context.settings.eventsMaxLength)
            let publish: [RedisCommand] = effects.events.map {
                RedisClient.xaddCommand(keys.events, fields: [("type", RedisArgument($0.type)), ("data", RedisArgument($0.data))], trim: trim)
            }
            try await context.redis.pipeline(publish).throwingFirstError()
        }
    }
}
