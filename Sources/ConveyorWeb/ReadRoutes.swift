import ConveyorCore
import ConveyorModel
import ConveyorPostgres
import Foundation
import Hummingbird

/// Read-only API: repositories, builds, jobs, requests.
struct ReadRoutes: Sendable {
    let context: NodeContext

    static let buildColumns = """
        b.id, b.number, r.slug AS repo, b.state, b.branch, b.sha, b.tag, b.commit_message, b.event_type, b.fast_finish, b.stages::text AS stages,
        \(iso("b.created_at")), \(iso("b.started_at")), \(iso("b.finished_at"))
        """
    static let jobColumns = """
        j.id, j.build_id, j.number, j.state, j.stage, j.stage_index, j.allow_failure, j.attempt, j.queue, j.worker, j.finished_reason, j.config::text AS config,
        \(iso("j.created_at")), \(iso("j.queued_at")), \(iso("j.received_at")), \(iso("j.started_at")), \(iso("j.finished_at"))
        """

    func register<C: RequestContext>(on router: Router<C>) {
        router.get("/api/v1/repos") { _, _ in try await repos() }
        router.get("/api/v1/builds") { request, _ in
            let limit = min(max(Int(request.uri.queryParameters.get("limit") ?? "") ?? 25, 1), 500)
            return try await builds(repo: request.uri.queryParameters.get("repo"), limit: limit)
        }
        router.get("/api/v1/builds/:id") { _, ctx in try await build(try ctx.parameters.require("id", as: Int64.self)) }
        router.get("/api/v1/jobs/:id") { _, ctx in try await job(try ctx.parameters.require("id", as: Int64.self)) }
        router.get("/api/v1/requests/:id") { _, ctx in try await requestRow(try ctx.parameters.require("id", as: Int64.self)) }
    }

    func repos() async throws -> Response {
        let rows = try await context.postgres.query("""
            SELECT r.id AS repo_id, r.slug AS repo_slug, r.url AS repo_url, \(Self.buildColumns)
            FROM repositories r LEFT JOIN LATERAL (SELECT * FROM builds b WHERE b.repository_id = r.id ORDER BY b.number DESC LIMIT 1) b ON true
            ORDER BY r.slug
            """)
        let list: [JSONValue] = rows.rows.map { row in
            .object(["id": .int(row["repo_id"].int ?? 0), "slug": .string(row["repo_slug"].string ?? ""), "url": .string(row["repo_url"].string ?? ""),
                     "last_build": row["id"].isNull ? .null : Self.buildJSON(row)])
        }
        return JSONResponse.ok(.object(["repos": .array(list)]))
    }

    func builds(repo: String?, limit: Int) async throws -> Response {
        let rows = try await context.postgres.query("""
            SELECT \(Self.buildColumns) FROM builds b JOIN repositories r ON r.id = b.repository_id
            WHERE ($1::text IS NULL OR r.slug = $1) ORDER BY b.id DESC LIMIT $2
            """, [.optional(repo), .int(limit)])
        return JSONResponse.ok(.object(["builds": .array(rows.rows.map(Self.buildJSON))]))
    }

    func build(_ id: Int64) async throws -> Response {
        guard let row = try await context.postgres.query("SELECT \(Self.buildColumns) FROM builds b JOIN repositories r ON r.id = b.repository_id WHERE b.id = $1", [.int(id)]).first else {
            throw APIError(.notFound, "build \(id) not found")
        }
        let jobs = try await context.postgres.query("SELECT \(Self.jobColumns) FROM jobs j WHERE j.build_id = $1 ORDER BY j.position", [.int(id)])
        return JSONResponse.ok(.object(["build": Self.buildJSON(row), "jobs": .array(jobs.rows.map(Self.jobJSON))]))
    }

    func job(_ id: Int64) async throws -> Response {
        guard let row = try await context.postgres.query("SELECT \(Self.jobColumns) FROM jobs j WHERE j.id = $1", [.int(id)]).first else {
            throw APIError(.notFound, "job \(id) not found")
        }
        let build = try await context.postgres.query("SELECT \(Self.buildColumns) FROM builds b JOIN repositories r ON r.id = b.repository_id WHERE b.id = $1",
                                                     [.int(row["build_id"].int64 ?? 0)]).first
        return JSONResponse.ok(.object(["job": Self.jobJSON(row), "build": build.map(Self.buildJSON) ?? .null]))
    }

    func requestRow(_ id: Int64) async throws -> Response {
        guard let row = try await context.postgres.query("""
            SELECT q.id, q.state, q.event_type, q.branch, q.sha, q.result_message, q.warnings::text AS warnings, r.slug, b.id AS build_id, \(iso("q.created_at"))
            FROM requests q JOIN repositories r ON r.id = q.repository_id LEFT JOIN builds b ON b.request_id = q.id WHERE q.id = $1
            """, [.int(id)]).first else { throw APIError(.notFound, "request \(id) not found") }
        return JSONResponse.ok(.object([
            "id": .int(row["id"].int ?? 0), "state": .string(row["state"].string ?? ""), "repo": .string(row["slug"].string ?? ""),
            "event_type": .string(row["event_type"].string ?? ""), "branch": .string(row["branch"].string ?? ""), "sha": .string(row["sha"].string ?? ""),
            "message": row["result_message"].string.map(JSONValue.string) ?? .null, "warnings": Self.parse(row["warnings"].string) ?? .array([]),
            "build_id": row["build_id"].int.map(JSONValue.int) ?? .null, "created_at": .string(row["created_at"].string ?? ""),
        ]))
    }

    static func parse(_ text: String?) -> JSONValue? {
        guard let text, let v = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else { return nil }
        return v
    }

    static func str(_ cell: PostgresCell) -> JSONValue { cell.string.map(JSONValue.string) ?? .null }

    static func buildJSON(_ row: PostgresRow) -> JSONValue {
        .object(["id": .int(row["id"].int ?? 0), "number": .int(row["number"].int ?? 0), "repo": str(row["repo"]), "state": str(row["state"]),
                 "branch": str(row["branch"]), "sha": str(row["sha"]), "tag": str(row["tag"]), "commit_message": str(row["commit_message"]),
                 "event_type": str(row["event_type"]), "fast_finish": .bool(row["fast_finish"].bool ?? false),
                 "stages": parse(row["stages"].string) ?? .array([]), "created_at": str(row["created_at"]),
                 "started_at": str(row["started_at"]), "finished_at": str(row["finished_at"])])
    }

    static func jobJSON(_ row: PostgresRow) -> JSONValue {
        var config: JSONValue = .null
        if let text = row["config"].string, let spec = try? JSONDecoder().decode(JobSpec.self, from: Data(text.utf8)) {
            config = spec.expandedJSON()
        }
        return .object(["id": .int(row["id"].int ?? 0), "build_id": .int(row["build_id"].int ?? 0), "number": str(row["number"]), "state": str(row["state"]),
                        "stage": str(row["stage"]), "stage_index": .int(row["stage_index"].int ?? 0), "allow_failure": .bool(row["allow_failure"].bool ?? false),
                        "attempt": .int(row["attempt"].int ?? 1), "queue": str(row["queue"]), "worker": str(row["worker"]),
                        "finished_reason": str(row["finished_reason"]), "config": config, "created_at": str(row["created_at"]),
                        "queued_at": str(row["queued_at"]), "received_at": str(row["received_at"]), "started_at": str(row["started_at"]),
                        "finished_at": str(row["finished_at"])])
    }
}
