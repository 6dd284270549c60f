import ConveyorCore
import ConveyorGatekeeper
import ConveyorRedis
import ConveyorTesting
import Foundation
import Testing

/// Cron builds on real PostgreSQL and Redis: several runners (separate nodes) race for the same due
/// crons and each due time yields exactly one `cron` request; a cron missed for days runs once.
@Suite struct CronTests {
    static let config = """
        language: shell
        jobs:
          include:
            - name: nightly
              if: type = cron
              script: echo nightly
            - name: pushes only
              if: type = push
              script: echo push
        """

    func repository(_ context: NodeContext, url: String, slug: String) async throws -> Int64 {
        let owner = try await context.postgres.query("INSERT INTO owners (login) VALUES ($1) ON CONFLICT (login) DO UPDATE SET login = EXCLUDED.login RETURNING id",
                                                     [.text(String(slug.split(separator: "/")[0]))]).first!["id"].int64!
        return try await context.postgres.query("INSERT INTO repositories (owner_id, slug, url) VALUES ($1, $2, $3) RETURNING id",
                                                [.int(owner), .text(slug), .text(url)]).first!["id"].int64!
    }

    @Test func concurrentRunnersBuildEachDueCronExactlyOnce() async throws {
        let context = try await TestEnvironment.context(roles: [.gatekeeper])
        let (url, sha) = try PipelineTests.makeRepository(Self.config)
        // Ten repositories, each with a daily cron missed for three days and a half.
        var crons: [Int64] = []
        for index in 0..<10 {
            let repo = try await repository(context, url: url, slug: "cron\(index)/app")
            crons.append(try await context.postgres.query("""
                INSERT INTO crons (repository_id, branch, interval, next_run_at) VALUES ($1, 'main', 'daily', now() - interval '3 days 12 hours') RETURNING id
                """, [.int(repo)]).first!["id"].int64!)
        }
        var nodes = [context]
        for _ in 0..<3 { nodes.append(try await TestEnvironment.sibling(of: context)) }
        // Four nodes, two passes each, all at once.
        let outcomes = try await withThrowingTaskGroup(of: [CronRunner.Outcome].self) { group in
            for node in nodes {
                for _ in 0..<2 { group.addTask { try await CronRunner(context: node).runDue() } }
            }
            var all: [CronRunner.Outcome] = []
            for try await batch in group { all += batch }
            return all
        }
        #expect(outcomes.count == 10)
        let requests = try await context.postgres.query("SELECT r.id, r.sha, r.event_type, p.slug FROM requests r JOIN repositories p ON p.id = r.repository_id")
        #expect(requests.rows.count == 10)
        #expect(Set(requests.rows.compactMap { $0["slug"].string }).count == 10)
        #expect(requests.rows.allSatisfy { $0["event_type"].string == "cron" && $0["sha"].string == sha })
        // Each cron moved to the next day at its time of day: due + 4 days, half a day from now.
        let moved = try await context.postgres.query("""
            SELECT count(*) AS n FROM crons WHERE next_run_at > now() AND next_run_at < now() + interval '13 hours'
               AND last_request_id IS NOT NULL AND last_run_at IS NOT NULL
            """)
        #expect(moved.first?["n"].int == 10)
        // Nothing is due any more: another pass from any node requests nothing.
        #expect(try await CronRunner(context: nodes[2]).runDue().isEmpty)
        // Every request was streamed to the gatekeepers once.
        let streamed = try await context.redis.send(["XLEN", RedisArgument(context.keys.requests)]).int
        #expect(streamed == 10)
        for node in nodes.dropFirst() { await node.close() }
        await context.close()
    }

    @Test func cronBuildsSeeTypeCronAndRecentBuildsSkipThem() async throws {
        let context = try await TestEnvironment.context(roles: [.gatekeeper])
        let (url, _) = try PipelineTests.makeRepository(Self.config)
        let repo = try await repository(context, url: url, slug: "nightly/app")
        let cron = try await context.postgres.query("""
            INSERT INTO crons (repository_id, branch, interval, dont_run_if_recent_build_exists, next_run_at) VALUES ($1, 'main', 'weekly', true, now()) RETURNING id
            """, [.int(repo)]).first!["id"].int64!
        let first = try await CronRunner(context: context).runDue()
        guard case .requested(let request)? = first.first else {
            Issue.record("expected a request, got \(first)")
            return
        }
        // The gatekeeper turns it into a build of event type cron, keeping only the `type = cron` job.
        try await GatekeeperService(context: context).handle(requestID: request)
        let build = try await context.postgres.query("SELECT id, event_type FROM builds WHERE request_id = $1", [.int(request)]).first
        #expect(build?["event_type"].string == "cron")
        let jobs = try await context.postgres.query("SELECT config->>'name' AS name FROM jobs WHERE build_id = $1", [.int(build?["id"].int64 ?? 0)])
        #expect(jobs.rows.map { $0["name"].string } == ["nightly"])
        // Due again with a build from the last 24 hours on the branch: skipped, no request.
        try await context.postgres.query("UPDATE crons SET next_run_at = now() - interval '1 second' WHERE id = $1", [.int(cron)])
        let second = try await CronRunner(context: context).runDue()
        #expect(second.count == 1)
        if case .skipped = second.first {} else { Issue.record("expected a skip, got \(second)") }
        #expect(try await context.postgres.query("SELECT count(*) AS n FROM requests").first?["n"].int == 1)
        let row = try await context.postgres.query("SELECT last_outcome, next_run_at > now() + interval '6 days' AS later FROM crons WHERE id = $1", [.int(cron)]).first
        #expect(row?["last_outcome"].string?.hasPrefix("skipped") == true)
        #expect(row?["later"].bool == true)
        await context.close()
    }

    @Test func aMissingBranchIsRecordedAndTheCronMovesOn() async throws {
        let context = try await TestEnvironment.context(roles: [.gatekeeper])
        let (url, _) = try PipelineTests.makeRepository(Self.config)
        let repo = try await repository(context, url: url, slug: "gone/app")
        try await context.postgres.query("INSERT INTO crons (repository_id, branch, interval, next_run_at) VALUES ($1, 'no-such-branch', 'monthly', now())", [.int(repo)])
        let outcomes = try await CronRunner(context: context).runDue()
        #expect(outcomes.count == 1)
        if case .failed(let why)? = outcomes.first { #expect(why.contains("no-such-branch")) } else { Issue.record("expected a failure, got \(outcomes)") }
        #expect(try await context.postgres.query("SELECT count(*) AS n FROM requests").first?["n"].int == 0)
        #expect(try await context.postgres.query("SELECT count(*) AS n FROM crons WHERE next_run_at > now() + interval '27 days'").first?["n"].int == 1)
        await context.close()
    }
}
