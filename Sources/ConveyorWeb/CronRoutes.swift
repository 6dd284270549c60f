import ConveyorCore
import ConveyorModel
import ConveyorPostgres
import Foundation
import Hummingbird

/// `GET/POST/DELETE /api/v1/repos/{owner}/{name}/crons`: a repository's cron builds (docs/cron.md).
/// Writes need the API token. A new cron is due at once; its runner then keeps the interval.
struct CronRoutes: Sendable {
    let context: NodeContext
    let access: Access

    struct NewCron: Decodable, Sendable {
        var branch: String
        var interval: String
        var dontRunIfRecentBuildExists: Bool?

        enum CodingKeys: String, CodingKey {
            case branch, interval
            case dontRunIfRecentBuildExists = "dont_run_if_recent_build_exists"
        }
    }

    struct Cron: Codable, Sendable, ResponseEncodable {
        var id: Int64
        var repo: String
        var branch: String
        var interval: String
        var dontRunIfRecentBuildExists: Bool
        var lastRunAt: String?
        var nextRunAt: String
        var lastOutcome: String?
        var createdAt: String

        enum CodingKeys: String, CodingKey {
            case id, repo, branch, interval
            case dontRunIfRecentBuildExists = "dont_run_if_recent_build_exists"
            case lastRunAt = "last_run_at", nextRunAt = "next_run_at", lastOutcome = "last_outcome", createdAt = "created_at"
        }
    }

    struct CronList: Codable, Sendable, ResponseEncodable {
        var crons: [Cron]
    }

    struct Deleted: Codable, Sendable, ResponseEncodable {
        var deleted: Int
    }

    func register<C: RequestContext>(on router: Router<C>) {
        router.get("/api/v1/repos/:owner/:repo/crons") { request, ctx -> CronList in
            CronList(crons: try await list(repositoryID: try await repositoryID(ctx, caller: try access.caller(request))))
        }
        router.post("/api/v1/repos/:owner/:repo/crons") { request, ctx -> EditedResponse<Cron> in
            try access.requireWrite(request)
            let body = try await request.decode(as: NewCron.self, context: ctx)
            return EditedResponse(status: .created, response: try await create(repositoryID: try await repositoryID(ctx), body: body))
        }
        router.delete("/api/v1/repos/:owner/:repo/crons/:id") { request, ctx -> Deleted in
            try access.requireWrite(request)
            let id = try ctx.parameters.require("id", as: Int64.self)
            let gone = try await context.postgres.query("DELETE FROM crons WHERE id = $1 AND repository_id = $2", [.int(id), .int(try await repositoryID(ctx))])
            guard gone.affectedRows > 0 else { throw APIError(.notFound, "no cron \(id) in this repository") }
            return Deleted(deleted: gone.affectedRows)
        }
        // By branch, as `conveyor crons delete --branch` asks.
        router.delete("/api/v1/repos/:owner/:repo/crons") { request, ctx -> Deleted in
            try access.requireWrite(request)
            guard let branch = request.uri.queryParameters.get("branch"), !branch.isEmpty else {
                throw APIError(.badRequest, "name the cron to delete: /crons/{id} or /crons?branch=NAME")
            }
            let gone = try await context.postgres.query("DELETE FROM crons WHERE branch = $1 AND repository_id = $2", [.text(branch), .int(try await repositoryID(ctx))])
            guard gone.affectedRows > 0 else { throw APIError(.notFound, "no cron for branch \(branch) in this repository") }
            return Deleted(deleted: gone.affectedRows)
        }
    }

    /// The repository of the path; a private one exists only for trusted callers (docs/api.md#authentication).
    func repositoryID(_ ctx: some RequestContext, caller: Access.Caller = .trusted) async throws -> Int64 {
        let slug = "\(ctx.parameters.get("owner") ?? "")/\(ctx.parameters.get("repo") ?? "")"
        guard let id = try await context.postgres.read("SELECT id FROM repositories WHERE slug = $1 AND ($2 OR NOT private)",
                                                        [.text(slug), .bool(caller.seesPrivate)]).first?["id"].int64 else {
            throw APIError(.notFound, "unknown repository \(slug)")
        }
        return id
    }

    static let columns = """
        c.id, r.slug, c.branch, c.interval, c.dont_run_if_recent_build_exists, c.last_outcome,
        \(iso("c.last_run_at")), \(iso("c.next_run_at")), \(iso("c.created_at"))
        """

    func list(repositoryID: Int64) async throws -> [Cron] {
        try await context.postgres.read("""
            SELECT \(Self.columns) FROM crons c JOIN repositories r ON r.id = c.repository_id WHERE c.repository_id = $1 ORDER BY c.branch
            """, [.int(repositoryID)]).rows.map(Self.cron)
    }

    func create(repositoryID: Int64, body: NewCron) async throws -> Cron {
        let interval: CronInterval
        do {
            interval = try CronInterval.parse(body.interval)
        } catch {
            throw APIError(.badRequest, error.description)
        }
        let branch = body.branch.trimmingCharacters(in: .whitespaces)
        guard !branch.isEmpty, branch.count <= 255, !branch.hasPrefix("-") else { throw APIError(.badRequest, "branch must be a branch name, got '\(body.branch)'") }
        let row = try await context.postgres.query("""
            WITH c AS (
                INSERT INTO crons (repository_id, branch, interval, dont_run_if_recent_build_exists, next_run_at)
                VALUES ($1, $2, $3, $4, now()) ON CONFLICT (repository_id, branch) DO NOTHING RETURNING *
            )
            SELECT \(Self.columns) FROM c JOIN repositories r ON r.id = c.repository_id
            """, [.int(repositoryID), .text(branch), .text(interval.rawValue), .bool(body.dontRunIfRecentBuildExists ?? false)]).first
        guard let row else { throw APIError(.conflict, "branch \(branch) already has a cron; delete it first") }
        return try Self.cron(row)
    }

    static func cron(_ row: PostgresRow) throws -> Cron {
        Cron(id: try row.decode("id"), repo: try row.decode("slug"), branch: try row.decode("branch"), interval: try row.decode("interval"),
             dontRunIfRecentBuildExists: row["dont_run_if_recent_build_exists"].bool ?? false, lastRunAt: row["last_run_at"].string,
             nextRunAt: row["next_run_at"].string ?? "", lastOutcome: row["last_outcome"].string, createdAt: row["created_at"].string ?? "")
    }
}
