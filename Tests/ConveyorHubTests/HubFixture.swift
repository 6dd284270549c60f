import ConveyorCore
import ConveyorModel
import ConveyorPostgres
import ConveyorRedis
import ConveyorTesting
import Foundation
import ServiceLifecycle

/// An isolated database and key prefix with one owner and one repository, and helpers to insert
/// builds and jobs with SQL, push state updates onto `cv:state`, and read back rows and events.
struct HubFixture: Sendable {
    let context: NodeContext
    let owner = "octo"
    let slug = "octo/widget"
    let ownerID: Int64
    let repoID: Int64

    static func make(repositorySettings: String = "{}", configure: (inout Settings) -> Void = { _ in }) async throws -> HubFixture {
        let context = try await TestEnvironment.context(roles: [.hub], configure: configure)
        let ownerID: Int64 = try await context.postgres.query("INSERT INTO owners (login) VALUES ('octo') RETURNING id").first!.decode("id")
        let repoID: Int64 = try await context.postgres.query("""
            INSERT INTO repositories (owner_id, slug, url, settings) VALUES ($1, 'octo/widget', 'https://git.example/octo/widget.git', $2::jsonb)
            RETURNING id
            """, ownerID, repositorySettings).first!.decode("id")
        return HubFixture(context: context, ownerID: ownerID, repoID: repoID)
    }

    func close() async { await context.close() }

    @discardableResult
    func build(fastFinish: Bool = false, sha: String = "0123abcd") async throws -> Int64 {
        let request: Int64 = try await context.postgres.query("""
            INSERT INTO requests (repository_id, event_type, branch, sha, commit_message) VALUES ($1, 'push', 'main', $2, 'Fix the widget')
            RETURNING id
            """, repoID, sha).first!.decode("id")
        return try await context.postgres.query("""
            INSERT INTO builds (repository_id, request_id, number, event_type, branch, sha, commit_message, config, fast_finish)
            VALUES ($1, $2, (SELECT COALESCE(max(number), 0) + 1 FROM builds WHERE repository_id = $1), 'push', 'main', $3, 'Fix the widget', '{}', $4)
            RETURNING id
            """, repoID, request, sha, fastFinish).first!.decode("id")
    }

    @discardableResult
    func job(build: Int64, stage: Int = 0, allowFailure: Bool = false, state: String = "created", attempt: Int = 1) async throws -> Int64 {
        try await context.postgres.query("""
            INSERT INTO jobs (build_id, repository_id, owner_id, number, position, stage, stage_index, state, attempt, queue, allow_failure, config)
            SELECT $1, $2, $3, b.number || '.' || (n.count + 1), n.count + 1, 'stage ' || $4::int, $4::int, $5, $6::int, 'default', $7::boolean, '{}'
            FROM builds b, (SELECT count(*) AS count FROM jobs WHERE build_id = $1) n WHERE b.id = $1
            RETURNING id
            """, build, repoID, ownerID, stage, state, attempt, allowFailure).first!.decode("id")
    }

    /// Stores `notifications` in the build's config, as the gatekeeper does (docs/notifications.md).
    func setNotifications(build: Int64, _ config: NotificationsConfig) async throws {
        let json = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        try await context.postgres.query("UPDATE builds SET config = jsonb_build_object('notifications', $2::jsonb) WHERE id = $1", [.int(build), .text(json)])
    }

    func push(_ update: StateUpdate) async throws {
        _ = try await context.redis.xadd(context.keys.state, fields: update.fields)
    }

    func push(_ job: Int64, _ event: JobEvent, worker: String? = "worker-1") async throws {
        try await push(StateUpdate(job: job, event: event, worker: worker))
    }

    struct JobSnapshot: Sendable, Equatable {
        var state: String
        var attempt: Int
        var lastSeq: Int
        var queuedAt: Int64?
        var receivedAt: Int64?
        var startedAt: Int64?
        var finishedAt: Int64?
        var reason: String?
        var worker: String?
    }

    func jobRow(_ id: Int64) async throws -> JobSnapshot {
        let row = try await context.postgres.query("""
            SELECT state, attempt, last_seq, finished_reason, worker,
                   round(extract(epoch FROM queued_at) * 1000)::bigint AS q, round(extract(epoch FROM received_at) * 1000)::bigint AS r,
                   round(extract(epoch FROM started_at) * 1000)::bigint AS s, round(extract(epoch FROM finished_at) * 1000)::bigint AS f
            FROM jobs WHERE id = $1
            """, id).first!
        return JobSnapshot(state: try row.decode("state"), attempt: try row.decode("attempt"), lastSeq: try row.decode("last_seq"),
                           queuedAt: try row.decode("q"), receivedAt: try row.decode("r"), startedAt: try row.decode("s"),
                           finishedAt: try row.decode("f"), reason: try row.decode("finished_reason"), worker: try row.decode("worker"))
    }

    func jobState(_ id: Int64) async throws -> String { try await jobRow(id).state }

    func buildRow(_ id: Int64) async throws -> (state: String, finished: Bool, run: Int) {
        let row = try await context.postgres.query("SELECT state, finished_at IS NOT NULL AS finished, run FROM builds WHERE id = $1", id).first!
        return (try row.decode("state"), try row.decode("finished"), try row.decode("run"))
    }

    struct Event: Sendable {
        var type: String
        var data: String
        func int(_ key: String) -> Int64? {
            guard let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else { return nil }
            return (object[key] as? NSNumber)?.int64Value
        }
        func string(_ key: String) -> String? {
            guard let object = try? JSONSerialization.jsonObject(with: Data(data.utf8)) as? [String: Any] else { return nil }
            return object[key] as? String
        }
    }

    /// Everything on `cv:events`, oldest first, optionally of one type.
    func events(_ type: String? = nil) async throws -> [Event] {
        let reply = try await context.redis.send(["XRANGE", RedisArgument(context.keys.events), "-", "+"])
        let all: [Event] = (reply.array ?? []).compactMap { item in
            guard let parts = item.array, parts.count == 2, let fields = parts[1].array?.map({ $0.string ?? "" }) else { return nil }
            var map: [String: String] = [:]
            var i = 0
            while i + 1 < fields.count { map[fields[i]] = fields[i + 1]; i += 2 }
            return Event(type: map["type"] ?? "", data: map["data"] ?? "{}")
        }
        return type.map { t in all.filter { $0.type == t } } ?? all
    }

    func waiting() async throws -> Set<Int64> {
        let reply = try await context.redis.send(["ZRANGE", RedisArgument(context.keys.waiting(owner)), "0", "-1"])
        return Set((reply.array ?? []).compactMap { $0.int })
    }

    func running() async throws -> Set<Int64> {
        let reply = try await context.redis.send(["ZRANGE", RedisArgument(context.keys.running(owner)), "0", "-1"])
        return Set((reply.array ?? []).compactMap { $0.int })
    }

    /// Holds a slot for `job`, as the scheduler would when admitting it.
    func occupySlot(_ job: Int64) async throws {
        _ = try await context.redis.send(["ZADD", RedisArgument(context.keys.running(owner)), RedisArgument(nowMillis() + 60_000), RedisArgument(job)])
    }

    /// True once the hub group has read every entry of `cv:state` and acknowledged it.
    func stateDrained() async throws -> Bool {
        let last = try await context.redis.send(["XREVRANGE", RedisArgument(context.keys.state), "+", "-", "COUNT", "1"])
        guard let lastID = last.array?.first?.array?.first?.string else { return true }
        guard let group = try await context.redis.xinfoGroups(context.keys.state).first(where: { $0.name == Groups.hub }) else { return false }
        return group.pending == 0 && group.lastDeliveredID == lastID
    }

    func jobEvents(_ job: Int64) async throws -> [(kind: String, applied: Bool, note: String?)] {
        try await context.postgres.query("SELECT kind, applied, note FROM job_events WHERE job_id = $1 ORDER BY id", job).rows.map {
            (try $0.decode("kind"), try $0.decode("applied"), try $0.decode("note"))
        }
    }
}

/// A job's events for one attempt: queued (seq 0), received, started, finished; `finished` carries
/// the earlier timestamps, as workers send it, so any arrival order ends in the same row.
struct AttemptScript {
    var attempt = 1
    var base: Int64 = 1_700_000_000_000
    var result: JobState = .passed

    var queued: JobEvent { JobEvent(kind: .queued, attempt: attempt, seq: 0, at: base) }
    var received: JobEvent { JobEvent(kind: .received, attempt: attempt, seq: 1, at: base + 1_000) }
    var started: JobEvent { JobEvent(kind: .started, attempt: attempt, seq: 2, at: base + 2_500) }
    var finished: JobEvent {
        JobEvent(kind: .finished, attempt: attempt, seq: 3, at: base + 10_000, result: result, reason: result == .passed ? nil : "script failed",
                 receivedAt: base + 1_000, startedAt: base + 2_500)
    }
    var all: [JobEvent] { [queued, received, started, finished] }
}

/// A deterministic generator, so a failing property run can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
