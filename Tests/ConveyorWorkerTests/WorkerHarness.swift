import ConveyorCore
import ConveyorModel
import ConveyorRedis
import ConveyorTesting
import ConveyorWorker
import Foundation
import Testing

/// One isolated worker setup: a fresh database and key prefix, job rows inserted with SQL, queue entries
/// added by hand, and readers for what the worker reports.
struct WorkerHarness: Sendable {
    let context: NodeContext
    let queue = "t"
    let owner = "owner-\(UUID().uuidString.prefix(6).lowercased())"

    static func make(configure: (inout Settings) -> Void = { _ in }) async throws -> WorkerHarness {
        let work = NSTemporaryDirectory() + "conveyor-worker-tests/\(UUID().uuidString.prefix(8))"
        let context = try await TestEnvironment.context(roles: [.worker]) { settings in
            settings.workerQueues = ["t"]
            settings.workerSlots = 2
            settings.sandbox = "none"
            settings.workDirectory = work
            settings.cancelGraceSeconds = 1
            settings.drainGraceSeconds = 2
            configure(&settings)
        }
        return WorkerHarness(context: context)
    }

    struct Limits {
        var hardTimeout: Int?
        var noOutputTimeout: Int?
        var maxLogBytes: Int?
    }

    /// Inserts owner, repository, request, build and job; returns the job id.
    func insertJob(_ spec: JobSpec, state: String = "queued", attempt: Int = 1, limits: Limits = Limits(),
                   repo: GitFixture = .shared) async throws -> Int64 {
        let pg = context.postgres
        let slug = "\(owner)/r\(UUID().uuidString.prefix(6).lowercased())"
        let ownerID = try await pg.query("INSERT INTO owners (login) VALUES ($1) ON CONFLICT (login) DO UPDATE SET login = EXCLUDED.login RETURNING id", owner).rows[0].decode("id", as: Int64.self)
        let repoID = try await pg.query("""
            INSERT INTO repositories (owner_id, slug, url, hard_timeout_seconds, no_output_timeout_seconds, max_log_bytes)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
            """, ownerID, slug, repo.url, limits.hardTimeout, limits.noOutputTimeout, limits.maxLogBytes).rows[0].decode("id", as: Int64.self)
        let requestID = try await pg.query("INSERT INTO requests (repository_id, event_type, branch, sha) VALUES ($1, 'push', 'main', $2) RETURNING id",
                                           repoID, repo.sha).rows[0].decode("id", as: Int64.self)
        let buildID = try await pg.query("""
            INSERT INTO builds (repository_id, request_id, number, event_type, branch, sha, config)
            VALUES ($1, $2, 1, 'push', 'main', $3, '{}') RETURNING id
            """, repoID, requestID, repo.sha).rows[0].decode("id", as: Int64.self)
        let config = String(decoding: try JSONEncoder().encode(spec), as: UTF8.self)
        return try await pg.query("""
            INSERT INTO jobs (build_id, repository_id, owner_id, number, position, state, attempt, queue, config)
            VALUES ($1, $2, $3, '1.1', 1, $4, $5, $6, $7::jsonb) RETURNING id
            """, buildID, repoID, ownerID, state, attempt, queue, config).rows[0].decode("id", as: Int64.self)
    }

    /// What the scheduler does: hold a slot in the owner's running set, then add the queue entry.
    @discardableResult
    func enqueue(_ job: Int64, attempt: Int = 1) async throws -> String {
        let deadline = nowMillis() + Int64(context.settings.leaseMilliseconds)
        try await context.redis.send(["ZADD", RedisArgument(context.keys.running(owner)), RedisArgument(deadline), RedisArgument(job)])
        return try await context.redis.xadd(context.keys.queue(queue), fields: QueueEntry(job: job, attempt: attempt, owner: owner).fields)
    }

    func cancel(_ job: Int64) async throws {
        try await context.redis.send(["SET", RedisArgument(context.keys.cancel(job)), "1", "EX", "600"])
    }

    func states(_ job: Int64) async throws -> [JobEvent] {
        try await range(context.keys.state).compactMap(StateUpdate.init).filter { $0.job == job }.map(\.event)
    }

    func parts(_ job: Int64) async throws -> [LogPart] {
        try await range(context.keys.logs).compactMap(LogPart.init).filter { $0.job == job }.sorted { $0.number < $1.number }
    }

    func log(_ job: Int64) async throws -> String {
        String(decoding: try await parts(job).flatMap(\.content), as: UTF8.self)
    }

    func pendingCount() async throws -> Int {
        try await context.redis.ensureGroup(context.keys.queue(queue), group: Groups.workers)
        return try await context.redis.xpendingSummary(context.keys.queue(queue), group: Groups.workers).count
    }

    /// Waits for the `finished` event of `job` (or its reset) and returns it.
    func waitForEnd(_ job: Int64, timeout: Duration = .seconds(90)) async throws -> JobEvent {
        var last: JobEvent?
        let done = try await eventually(timeout: timeout, every: .milliseconds(100)) {
            last = try await states(job).first { $0.kind == .finished || $0.kind == .reset }
            return last != nil
        }
        guard done, let last else { throw TestSetupError("job \(job) did not finish within \(timeout); states: \(try await states(job))") }
        return last
    }

    private func range(_ stream: String) async throws -> [StreamEntry] {
        let reply = try await context.redis.send(["XRANGE", RedisArgument(stream), "-", "+"])
        return RedisClient.parseRead(.array([.array([.bulk(Array(stream.utf8)), reply])])).first?.entries ?? []
    }

    /// Runs the worker service while `body` runs, then stops it. A service that failed is reported
    /// rather than the timeout it caused.
    func withWorker<T: Sendable>(executor: (any Executor)? = nil, _ body: () async throws -> T) async throws -> T {
        let service = executor.map { WorkerService(context: context, executor: $0) } ?? WorkerService(context: context)
        let task = Task { try await service.run() }
        do {
            let result = try await body()
            task.cancel()
            try await task.value
            return result
        } catch {
            task.cancel()
            if case .failure(let serviceError) = await task.result { throw serviceError }
            throw error
        }
    }

    static func spec(_ phases: [Phase: [String]], env: [EnvVar] = []) -> JobSpec {
        JobSpec(language: "shell", env: env, phases: phases, gitDepth: 0)
    }
}
