import ConveyorCore
import ConveyorModel
import ConveyorPostgres
import ConveyorRedis
import Foundation
import Metrics
import ServiceLifecycle

/// Starts the builds of due crons (docs/cron.md). Any number of nodes run this: each due cron is
/// taken under a row lock (`FOR UPDATE SKIP LOCKED`) and moved to its next due time in the same
/// transaction that stores its build request, guarded by the due time it was locked with, so every
/// due time yields exactly one request however many nodes look at once.
public struct CronRunner: Service {
    let context: NodeContext

    public init(context: NodeContext) { self.context = context }

    public enum Outcome: Sendable, Equatable {
        case requested(request: Int64)
        case skipped(String)
        case failed(String)
    }

    public func run() async throws {
        let interval = Duration.milliseconds(Int(max(1, context.settings.sweepIntervalSeconds) * 1000))
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                _ = try await runDue()
            } catch {
                context.logger.warning("cron pass failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Runs every cron due now, one row lock at a time; returns what each did.
    @discardableResult
    public func runDue(limit: Int = 100) async throws -> [Outcome] {
        var outcomes: [Outcome] = []
        for _ in 0..<limit {
            guard let outcome = try await runOne() else { break }
            outcomes.append(outcome)
        }
        return outcomes
    }

    /// Takes one due cron no other node holds, or returns nil when none is due.
    func runOne() async throws -> Outcome? {
        let taken: (Outcome, Int64?)? = try await context.postgres.transaction { conn in
            let due = try await conn.query("""
                SELECT c.id, c.branch, c.interval, c.dont_run_if_recent_build_exists AS dont_run, c.repository_id,
                       (extract(epoch FROM c.next_run_at) * 1000)::bigint AS due_ms, c.next_run_at::text AS due_exact, (extract(epoch FROM now()) * 1000)::bigint AS now_ms,
                       r.url, r.slug
                FROM crons c JOIN repositories r ON r.id = c.repository_id
                WHERE c.next_run_at <= now()
                ORDER BY c.next_run_at LIMIT 1
                FOR UPDATE OF c SKIP LOCKED
                """).first
            guard let due else { return nil }
            let cronID: Int64 = try due.decode("id")
            let dueMillis: Int64 = try due.decode("due_ms")
            let now: Int64 = try due.decode("now_ms")
            let branch: String = try due.decode("branch")
            let interval = try CronInterval.parse(try due.decode("interval"))
            let outcome = try await decide(conn: conn, cronID: cronID, repositoryID: try due.decode("repository_id"), branch: branch,
                                           url: try due.decode("url"), dontRunIfRecent: due["dont_run"].bool ?? false, now: now)
            let next = interval.next(after: dueMillis, now: now)
            let moved = try await conn.query("""
                UPDATE crons SET next_run_at = to_timestamp($3::double precision / 1000), last_run_at = now(),
                                 last_request_id = COALESCE($4, last_request_id), last_outcome = $5
                WHERE id = $1 AND next_run_at = $2::timestamptz
                """, [.int(cronID), .text(try due.decode("due_exact")), .int(next), .optional(outcome.request), .text(outcome.summary)])
            // The lock makes this always 1; the guard keeps a due time from ever building twice.
            guard moved.affectedRows == 1 else { throw CronRaced() }
            context.logger.info("cron ran", metadata: ["repo": "\(due["slug"].string ?? "")", "branch": "\(branch)", "outcome": "\(outcome.summary)"])
            return (outcome, outcome.request)
        }
        guard let (outcome, request) = taken else { return nil }
        Counter(label: "conveyor_cron_runs_total", dimensions: [("outcome", outcome.kind)]).increment()
        if let request {
            do {
                try await context.redis.xadd(context.keys.requests, fields: [("request", RedisArgument(request))])
            } catch {
                context.logger.warning("cron request stored but not streamed; the gatekeeper sweep will pick it up", metadata: ["request": "\(request)", "error": "\(error)"])
            }
        }
        return outcome
    }

    struct CronRaced: Error {}

    /// Skips when the branch built recently (if asked), otherwise stores a `cron` request for the
    /// branch's head. A branch that is gone is recorded on the cron and tried again next period.
    func decide(conn: PostgresConnection, cronID: Int64, repositoryID: Int64, branch: String, url: String, dontRunIfRecent: Bool, now: Int64) async throws -> Outcome {
        if dontRunIfRecent {
            let recent = try await conn.query("""
                SELECT 1 FROM builds WHERE repository_id = $1 AND branch = $2 AND created_at > to_timestamp($3::double precision / 1000) LIMIT 1
                """, [.int(repositoryID), .text(branch), .int(now - CronInterval.recentBuildWindowMillis)])
            if !recent.rows.isEmpty { return .skipped("a build of \(branch) exists from the last 24 hours") }
        }
        let sha: String
        do {
            sha = try await GitRemote.head(url: url, branch: branch)
        } catch {
            return .failed("\(error)")
        }
        let payload = JSONValue.object(["cron": .int(Int(cronID))]).jsonText()
        let row = try await conn.query("""
            INSERT INTO requests (repository_id, event_type, payload, branch, sha, commit_message, sender)
            VALUES ($1, 'cron', $2::jsonb, $3, $4, $5, 'cron') RETURNING id
            """, [.int(repositoryID), .text(payload), .text(branch), .text(sha), .text("cron build of \(branch)")])
        return .requested(request: try row.first!.decode("id"))
    }
}

extension CronRunner.Outcome {
    var request: Int64? {
        if case .requested(let id) = self { return id }
        return nil
    }

    var kind: String {
        switch self {
        case .requested: return "requested"
        case .skipped: return "skipped"
        case .failed: return "failed"
        }
    }

    var summary: String {
        switch self {
        case .requested(let id): return "requested \(id)"
        case .skipped(let why): return "skipped: \(why)"
        case .failed(let why): return "error: \(why)"
        }
    }
}
