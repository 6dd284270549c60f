import ConveyorCore
import ConveyorModel
import ConveyorPostgres
import Foundation
import Hummingbird

/// Read-only API: repositories, builds, jobs, requests. A private repository's resources are
/// visible only to callers with the token; to others they don't exist (404, and absent from lists).
struct ReadRoutes: Sendable {
    let context: NodeContext
    let access: Access

    func register(on router: Router<WebContext>) {
        router.get("/api/v1/repos") { request, _ in try await repos(try access.caller(request)) }
        router.get("/api/v1/builds") { request, _ in
            let caller = try access.caller(request)
            let limit = try request.queryInt("limit", in: 1...500) ?? 25
            return try await builds(repo: request.uri.queryParameters.get("repo"), limit: limit, caller: caller)
        }
        router.get("/api/v1/builds/:id") { request, ctx in try await build(try ctx.parameters.id("id"), caller: try access.caller(request)) }
        router.get("/api/v1/jobs/:id") { request, ctx in try await job(try ctx.parameters.id("id"), caller: try access.caller(request)) }
        router.get("/api/v1/requests/:id") { request, ctx in try await requestRow(try ctx.parameters.id("id"), caller: try access.caller(request)) }
    }

    func repos(_ caller: Access.Caller) async throws -> RepoList {
        let rows = try await context.postgres.read("""
            SELECT r.id AS repo_id, r.slug AS repo_slug, r.url AS repo_url, r.private AS repo_private, \(BuildJSON.columns)
            FROM repositories r LEFT JOIN LATERAL (SELECT * FROM builds b WHERE b.repository_id = r.id ORDER BY b.number DESC LIMIT 1) b ON true
            WHERE $1 OR NOT r.private
            ORDER BY r.slug
            """, [.bool(caller.seesPrivate)])
        return RepoList(repos: try rows.rows.map { row in
            RepoJSON(id: try row.decode("repo_id"), slug: try row.decode("repo_slug"), private: try row.decode("repo_private"),
                     url: try row.decode("repo_url"), lastBuild: row["id"].isNull ? nil : try BuildJSON(row: row))
        })
    }

    func builds(repo: String?, limit: Int, caller: Access.Caller) async throws -> BuildList {
        let rows = try await context.postgres.read("""
            SELECT \(BuildJSON.columns) FROM builds b JOIN repositories r ON r.id = b.repository_id
            WHERE ($1::text IS NULL OR r.slug = $1) AND ($3 OR NOT r.private) ORDER BY b.id DESC LIMIT $2
            """, [.optional(repo), .int(limit), .bool(caller.seesPrivate)])
        return BuildList(builds: try rows.rows.map(BuildJSON.init(row:)))
    }

    func build(_ id: Int64, caller: Access.Caller) async throws -> BuildDetail {
        guard let row = try await context.postgres.read("""
            SELECT \(BuildJSON.columns) FROM builds b JOIN repositories r ON r.id = b.repository_id WHERE b.id = $1 AND ($2 OR NOT r.private)
            """, [.int(id), .bool(caller.seesPrivate)]).first else {
            throw APIError(.notFound, "build \(id) not found")
        }
        let jobs = try await context.postgres.read("SELECT \(JobJSON.columns) FROM jobs j WHERE j.build_id = $1 ORDER BY j.position", [.int(id)])
        return BuildDetail(build: try BuildJSON(row: row), jobs: try jobs.rows.map(JobJSON.init(row:)))
    }

    func job(_ id: Int64, caller: Access.Caller) async throws -> JobDetail {
        guard let row = try await context.postgres.read("""
            SELECT \(JobJSON.columns) FROM jobs j JOIN builds b ON b.id = j.build_id JOIN repositories r ON r.id = b.repository_id
            WHERE j.id = $1 AND ($2 OR NOT r.private)
            """, [.int(id), .bool(caller.seesPrivate)]).first else {
            throw APIError(.notFound, "job \(id) not found")
        }
        let job = try JobJSON(row: row)
        let build = try await context.postgres.read("SELECT \(BuildJSON.columns) FROM builds b JOIN repositories r ON r.id = b.repository_id WHERE b.id = $1",
                                                     [.int(job.buildID)]).first
        return JobDetail(job: job, build: try build.map(BuildJSON.init(row:)))
    }

    func requestRow(_ id: Int64, caller: Access.Caller) async throws -> RequestJSON {
        guard let row = try await context.postgres.read("""
            SELECT q.id, q.state, q.event_type, q.branch, q.sha, q.result_message, q.warnings::text AS warnings, r.slug, b.id AS build_id, \(iso("q.created_at"))
            FROM requests q JOIN repositories r ON r.id = q.repository_id LEFT JOIN builds b ON b.request_id = q.id
            WHERE q.id = $1 AND ($2 OR NOT r.private)
            """, [.int(id), .bool(caller.seesPrivate)]).first else { throw APIError(.notFound, "request \(id) not found") }
        return RequestJSON(id: try row.decode("id"), state: try row.decode("state"), repo: try row.decode("slug"), eventType: try row.decode("event_type"),
                           branch: try row.decode("branch"), sha: try row.decode("sha"), message: try row.decode("result_message"),
                           warnings: JSONText.value(try row.decode("warnings", as: String?.self)) ?? .array([]),
                           buildID: try row.decode("build_id"), createdAt: try row.decode("created_at"))
    }
}
