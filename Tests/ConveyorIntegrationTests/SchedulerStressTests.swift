import ConveyorCore
import ConveyorHub
import ConveyorModel
import ConveyorRedis
import ConveyorScheduler
import ConveyorTesting
import Foundation
import Synchronization
import Testing

/// Several scheduler nodes and a hub, with random finish / cancel / reset events across 50 owners.
/// Sampled continuously: no owner ever has more than its limit running (in Redis or in Postgres),
/// and every job is queued exactly once per attempt.
@Suite struct SchedulerStressTests {
    static let owners = 50
    static let jobsPerOwner = 6

    /// Inserts owners (limits 1…3), one repository and one build each, and their jobs; returns the limits.
    static func seed(_ context: NodeContext) async throws -> [String: Int] {
        var limits: [String: Int] = [:]
        let spec = String(decoding: try JSONEncoder().encode(JobSpec(number: 1, stage: nil, stageIndex: 0, allowFailure: false, name: nil,
                                                                     language: "shell", os: "linux")), as: UTF8.self)
        for i in 0..<owners {
            let login = "stress\(i)"
            let limit = 1 + i % 3
            limits[login] = limit
            let owner = try await context.postgres.query("INSERT INTO owners (login, concurrency_limit) VALUES ($1, $2) RETURNING id", [.text(login), .int(limit)]).first!["id"].int64!
            let repo = try await context.postgres.query("INSERT INTO repositories (owner_id, slug, url) VALUES ($1, $2, 'file:///nowhere') RETURNING id",
                                                        [.int(owner), .text("\(login)/app")]).first!["id"].int64!
            let request = try await context.postgres.query("INSERT INTO requests (repository_id, event_type, branch, sha) VALUES ($1, 'api', 'main', 'abcdef1') RETURNING id",
                                                           [.int(repo)]).first!["id"].int64!
            let build = try await context.postgres.query("""
                INSERT INTO builds (repository_id, request_id, number, event_type, branch, sha, config) VALUES ($1, $2, 1, 'api', 'main', 'abcdef1', '{}') RETURNING id
                """, [.int(repo), .int(request)]).first!["id"].int64!
            var waiting: [SlotBook.WaitingJob] = []
            for n in 1...jobsPerOwner {
                let job = try await context.postgres.query("""
                    INSERT INTO jobs (build_id, repository_id, owner_id, number, position, queue, config) VALUES ($1, $2, $3, $4, $5, 'default', $6::jsonb) RETURNING id
                    """, [.int(build), .int(repo), .int(owner), .text("1.\(n)"), .int(n), .text(spec)]).first!["id"].int64!
                waiting.append(.init(job: job, repo: "\(login)/app", queue: "default", createdMillis: nowMillis()))
            }
            try await context.slots.setLimits(owner: login, max: limit)
            try await context.slots.enqueue(owner: login, jobs: waiting)
        }
        return limits
    }

    @Test func limitsHoldUnderRandomEventsWithThreeSchedulers() async throws {
        let context = try await TestEnvironment.context { $0.sweepIntervalSeconds = 1; $0.leaseSeconds = 30 }
        let siblings = [try await TestEnvironment.sibling(of: context), try await TestEnvironment.sibling(of: context)]
        let limits = try await Self.seed(context)
        let violations = ViolationLog()
        let total = Self.owners * Self.jobsPerOwner

        try await withThrowingTaskGroup(of: Void.self) { group in
            for node in [context] + siblings { group.addTask { try await SchedulerService(context: node).run() } }
            group.addTask { try await HubService(context: context).run() }
            // Sampler: running sets and Postgres, compared with each owner's limit.
            group.addTask {
                while !Task.isCancelled {
                    for (owner, limit) in limits {
                        let held = try await context.redis.send(["ZCARD", RedisArgument(context.keys.running(owner))]).int ?? 0
                        if held > limit { violations.add("\(owner): \(held) slots held, limit \(limit)") }
                    }
                    let active = try await context.postgres.query("""
                        SELECT o.login, o.concurrency_limit AS max, count(*) AS n FROM jobs j JOIN owners o ON o.id = j.owner_id
                        WHERE j.state IN ('queued', 'received', 'started') GROUP BY o.login, o.concurrency_limit
                        """)
                    for row in active.rows where (row["n"].int ?? 0) > (row["max"].int ?? 0) {
                        violations.add("\(row["login"].string ?? ""): \(row["n"].int ?? 0) active in Postgres, limit \(row["max"].int ?? 0)")
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            // Chaos: random finish, cancel, or reset of queued jobs, through the hub's stream and actions.
            group.addTask {
                let actions = HubActions(context: context)
                var seq = 10
                while !Task.isCancelled {
                    let queued = try await context.postgres.query("SELECT id, attempt FROM jobs WHERE state = 'queued' ORDER BY random() LIMIT 10")
                    for row in queued.rows {
                        guard let id = row["id"].int64, let attempt = row["attempt"].int else { continue }
                        seq += 1
                        switch Int.random(in: 0..<10) {
                        case 0: _ = try? await actions.cancelJob(id)
                        case 1...2:
                            let reset = StateUpdate(job: id, event: JobEvent(kind: .reset, attempt: attempt, seq: seq, at: nowMillis(), reason: "chaos"))
                            try await context.redis.xadd(context.keys.state, fields: reset.fields)
                        default:
                            let result: JobState = Bool.random() ? .passed : .failed
                            let done = StateUpdate(job: id, event: JobEvent(kind: .finished, attempt: attempt, seq: seq, at: nowMillis(), result: result))
                            try await context.redis.xadd(context.keys.state, fields: done.fields)
                        }
                    }
                    try await Task.sleep(for: .milliseconds(30))
                }
            }
            let allFinal = try await eventually(timeout: .seconds(180), every: .milliseconds(500)) {
                let n = try await context.postgres.query("SELECT count(*) AS n FROM jobs WHERE state IN ('passed', 'failed', 'errored', 'canceled')").first?["n"].int ?? 0
                return n == total
            }
            group.cancelAll()
            #expect(allFinal, "not every job reached a final state")
        }
        #expect(violations.all.isEmpty, "limit exceeded: \(violations.all.prefix(5))")
        let doubles = try await context.postgres.query("""
            SELECT job_id, attempt, count(*) AS n FROM job_events WHERE kind = 'queued' AND applied GROUP BY job_id, attempt HAVING count(*) > 1
            """)
        #expect(doubles.rows.isEmpty, "jobs queued twice in one attempt: \(doubles.rows.count)")
        let resets = try await context.postgres.query("SELECT count(*) AS n FROM jobs WHERE attempt > 1").first?["n"].int ?? 0
        #expect(resets > 0, "the chaos task should have reset some jobs")
        for node in siblings { await node.close() }
        await context.close()
    }
}

/// Violations seen by the sampler.
final class ViolationLog: Sendable {
    private let items = Mutex<[String]>([])
    func add(_ s: String) { items.withLock { $0.append(s) } }
    var all: [String] { items.withLock { $0 } }
}
