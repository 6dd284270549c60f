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
        if !commands.isEmpty { try check(try await context.redis.pipeline(commands)) }

        let slots = context.slots
        for release in effects.releases {
            try await slots.release(owner: release.owner, job: release.job, forget: release.forget)
        }
        var woken = Set<String>()
        for (owner, entries) in Dictionary(grouping: effects.enqueues, by: \.owner).sorted(by: { $0.key < $1.key }) {
            let jobs = entries.map {
                SlotBook.WaitingJob(job: $0.job, repo: $0.repo, queue: $0.queue, priority: $0.priority, createdMillis: $0.createdMillis)
            }
            try await slots.enqueue(owner: owner, jobs: jobs) // also wakes the owner
            woken.insert(owner)
        }
        for owner in effects.wakes where !woken.contains(owner) {
            try await slots.wake(owner: owner, reason: "hub")
        }
        if !effects.events.isEmpty {
            let trim = StreamTrim.maxLenApprox(context.settings.eventsMaxLength)
            let publish: [RedisCommand] = effects.events.map {
                RedisClient.xaddCommand(keys.events, fields: [("type", RedisArgument($0.type)), ("data", RedisArgument($0.data))], trim: trim)
            }
            try check(try await context.redis.pipeline(publish))
        }
    }

    private func check(_ replies: [RedisValue]) throws {
        for reply in replies { try reply.throwingError() }
    }
}
