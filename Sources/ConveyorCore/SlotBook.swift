import ConveyorRedis

/// The owner-scoped Redis side of scheduling: waiting sets, running slots (membership with a
/// lease deadline), limits. Every change goes through a Lua script or a single command.
public struct SlotBook: Sendable {
    let redis: RedisClient
    let keys: Keys
    let scripts: LuaScripts
    let settings: Settings
    /// Rebuilds Redis when admission finds it gated (`NodeContext.slots` sets it; nil leaves the gate shut).
    let repair: (@Sendable () async throws -> Void)?

    public init(redis: RedisClient, keys: Keys, scripts: LuaScripts, settings: Settings, repair: (@Sendable () async throws -> Void)? = nil) {
        self.redis = redis
        self.keys = keys
        self.scripts = scripts
        self.settings = settings
        self.repair = repair
    }

    public struct WaitingJob: Sendable {
        public var job: Int64
        public var repo: String
        public var queue: String
        public var priority: Int
        public var createdMillis: Int64
        public init(job: Int64, repo: String, queue: String, priority: Int = 0, createdMillis: Int64) {
            self.job = job
            self.repo = repo
            self.queue = queue
            self.priority = priority
            self.createdMillis = createdMillis
        }
        /// Higher priority first, then FIFO. Priority is clamped to 0…99 so scores stay exact doubles.
        var score: Double { Double(99 - min(max(priority, 0), 99)) * 1e13 + Double(createdMillis) }
    }

    /// Adds jobs to the owner's waiting set (idempotent) and wakes the scheduler for the owner.
    public func enqueue(owner: String, jobs: [WaitingJob]) async throws {
        if jobs.isEmpty { return }
        var args: [RedisArgument] = [RedisArgument(owner)]
        for job in jobs {
            args += [RedisArgument(job.job), RedisArgument(job.score), RedisArgument("\(job.repo)\t\(job.queue)")]
        }
        try await redis.evaluate(scripts.enqueue, keys: [RedisArgument(keys.waiting(owner)), RedisArgument(keys.running(owner)),
                                                          RedisArgument(keys.jobInfo(owner)), RedisArgument(keys.ownersWaiting)], args: args)
        try await wake(owner: owner, reason: "enqueued")
    }

    /// Releases a job's slot (harmless twice); `forget` when the job is final.
    public func release(owner: String, job: Int64, forget: Bool) async throws {
        try await redis.evaluate(scripts.release, keys: [RedisArgument(keys.running(owner)), RedisArgument(keys.waiting(owner)), RedisArgument(keys.jobInfo(owner))],
                                 args: [RedisArgument(job), forget ? "forget" : "keep"])
    }

    /// A slot to give back; `forget` when the job is final.
    public struct Release: Sendable, Hashable {
        public var owner: String
        public var job: Int64
        public var forget: Bool
        public init(owner: String, job: Int64, forget: Bool) {
            self.owner = owner
            self.job = job
            self.forget = forget
        }
    }

    /// Releases many slots with one pipeline of script calls (each call stays atomic on its own).
    public func release(_ releases: [Release]) async throws {
        let calls = releases.map(releaseCall)
        let replies = try await redis.evaluateMany(scripts.release, calls: calls)
        try replies.throwingFirstError()
    }

    private func releaseCall(_ r: Release) -> (keys: [RedisArgument], args: [RedisArgument]) {
        let mode: RedisArgument = r.forget ? "forget" : "keep"
        return (keys: [RedisArgument(keys.running(r.owner)), RedisArgument(keys.waiting(r.owner)), RedisArgument(keys.jobInfo(r.owner))],
                args: [RedisArgument(r.job), mode])
    }

    /// Adds jobs to several owners' waiting sets with one pipeline, then wakes those owners with another.
    public func enqueue(_ byOwner: [(owner: String, jobs: [WaitingJob])]) async throws {
        let calls = byOwner.filter { !$0.jobs.isEmpty }
        if calls.isEmpty { return }
        let replies = try await redis.evaluateMany(scripts.enqueue, calls: calls.map { call in
            var args: [RedisArgument] = [RedisArgument(call.owner)]
            for job in call.jobs {
                args += [RedisArgument(job.job), RedisArgument(job.score), RedisArgument("\(job.repo)\t\(job.queue)")]
            }
            return (keys: [RedisArgument(keys.waiting(call.owner)), RedisArgument(keys.running(call.owner)),
                           RedisArgument(keys.jobInfo(call.owner)), RedisArgument(keys.ownersWaiting)], args: args)
        })
        try replies.throwingFirstError()
        try await wake(owners: calls.map(\.owner), reason: "enqueued")
    }

    /// Wakes the scheduler for several owners with one pipeline.
    public func wake(owners: [String], reason: String) async throws {
        if owners.isEmpty { return }
        let commands: [RedisCommand] = owners.map {
            RedisClient.xaddCommand(keys.scheduler, fields: [("owner", RedisArgument($0)), ("reason", RedisArgument(reason))], trim: .maxLenApprox(100_000))
        }
        try await redis.pipeline(commands).throwingFirstError()
    }

    public func wake(owner: String, reason: String) async throws {
        try await redis.xadd(keys.scheduler, fields: [("owner", RedisArgument(owner)), ("reason", RedisArgument(reason))], trim: .maxLenApprox(100_000))
    }

    /// Caches the owner's limits where the admission script reads them.
    public func setLimits(owner: String, max: Int, repoLimits: [String: Int] = [:], queueLimits: [String: Int] = [:]) async throws {
        try await redis.send(limitsCommand(owner: owner, max: max, repoLimits: repoLimits, queueLimits: queueLimits))
    }

    /// The `HSET` of `setLimits`, for callers that pipeline many owners.
    public func limitsCommand(owner: String, max: Int, repoLimits: [String: Int] = [:], queueLimits: [String: Int] = [:]) -> RedisCommand {
        var command: RedisCommand = ["HSET", RedisArgument(keys.limits(owner)), "max", RedisArgument(max)]
        for (repo, limit) in repoLimits { command += [RedisArgument("repo:\(repo)"), RedisArgument(limit)] }
        for (queue, limit) in queueLimits { command += [RedisArgument("queue:\(queue)"), RedisArgument(limit)] }
        return command
    }

    public struct Admission: Sendable {
        public var admitted: [Int64]
        public var waiting: Int
        public var running: Int
        public var max: Int
        public var expired: Int
        public var blocked: [(job: Int64, reason: String)]
        /// Nothing was admitted because `cv:epoch` is missing (Redis lost its data, not yet rebuilt).
        public var gated: Bool = false
    }

    /// Runs the admission script for one owner.
    public func admit(owner: String, nowMillis: Int64, scanLimit: Int = 500) async throws -> Admission {
        try await admit(owners: [owner], nowMillis: nowMillis, scanLimit: scanLimit)[0]
    }

    /// Runs the admission script once per owner, all in one pipeline (each call is still atomic on
    /// its owner's keys). The result is in `owners` order.
    /// Admission is gated while `cv:epoch` is missing: the first admission that finds it so runs the
    /// repair (`RedisRepair`; on a cluster's first start that only writes the epoch), then tries again.
    public func admit(owners: [String], nowMillis: Int64, scanLimit: Int = 500) async throws -> [Admission] {
        let first = try await admitOnce(owners: owners, nowMillis: nowMillis, scanLimit: scanLimit)
        guard first.contains(where: \.gated), let repair else { return first }
        _ = try await repair()
        return try await admitOnce(owners: owners, nowMillis: nowMillis, scanLimit: scanLimit)
    }

    private func admitOnce(owners: [String], nowMillis: Int64, scanLimit: Int) async throws -> [Admission] {
        let args = admitArguments(nowMillis: nowMillis, scanLimit: scanLimit)
        let replies = try await redis.evaluateMany(scripts.admit, calls: owners.map { (keys: admitKeys($0), args: args) })
        return try replies.map { reply in
            if case .error(let message) = reply { throw RedisError.server(message) }
            return try Self.admission(from: reply)
        }
    }

    private func admitKeys(_ owner: String) -> [RedisArgument] {
        [RedisArgument(keys.waiting(owner)), RedisArgument(keys.running(owner)), RedisArgument(keys.limits(owner)), RedisArgument(keys.jobInfo(owner)),
         RedisArgument(keys.epoch)]
    }

    private func admitArguments(nowMillis: Int64, scanLimit: Int) -> [RedisArgument] {
        let lease = settings.leaseMilliseconds
        return [RedisArgument(nowMillis), RedisArgument(lease), RedisArgument(lease), RedisArgument(settings.defaultOwnerLimit), RedisArgument(scanLimit)]
    }

    private static func admission(from reply: RedisValue) throws -> Admission {
        let parts = reply.array ?? []
        guard parts.count >= 6 else { throw RedisError(code: .protocolError, message: "admit.lua returned \(parts.count) parts") }
        let blocked: [(Int64, String)] = (parts[5].array ?? []).compactMap { v in
            let s = (v.string ?? "").split(separator: "\t", maxSplits: 1)
            guard s.count == 2, let id = Int64(s[0]) else { return nil }
            return (id, String(s[1]))
        }
        return Admission(admitted: (parts[0].array ?? []).compactMap { $0.int }, waiting: Int(parts[1].int ?? 0),
                         running: Int(parts[2].int ?? 0), max: Int(parts[3].int ?? 0), expired: Int(parts[4].int ?? 0), blocked: blocked,
                         gated: parts.count > 6 && parts[6].int == 1)
    }
}
