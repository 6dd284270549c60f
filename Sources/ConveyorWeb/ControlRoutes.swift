import ConveyorCore
import ConveyorHub
import ConveyorModel
import Hummingbird

/// Cancel and restart of jobs and builds, and owner limits; all need the API token.
struct ControlRoutes: Sendable {
    let context: NodeContext
    let actions: HubActions
    let auth: TokenCheck

    func register<C: RequestContext>(on router: Router<C>) {
        router.post("/api/v1/jobs/:id/cancel") { request, ctx in
            try auth.require(request)
            return try await run { .object(["ok": .bool(true), "changed": .bool(try await actions.cancelJob(try ctx.parameters.require("id", as: Int64.self)))]) }
        }
        router.post("/api/v1/jobs/:id/restart") { request, ctx in
            try auth.require(request)
            return try await run { .object(["ok": .bool(true), "changed": .bool(try await actions.restartJob(try ctx.parameters.require("id", as: Int64.self)))]) }
        }
        router.post("/api/v1/builds/:id/cancel") { request, ctx in
            try auth.require(request)
            return try await run { .object(["ok": .bool(true), "jobs": .int(try await actions.cancelBuild(try ctx.parameters.require("id", as: Int64.self)))]) }
        }
        router.post("/api/v1/builds/:id/restart") { request, ctx in
            try auth.require(request)
            return try await run { .object(["ok": .bool(true), "jobs": .int(try await actions.restartBuild(try ctx.parameters.require("id", as: Int64.self)))]) }
        }
        router.put("/api/v1/owners/:login") { request, ctx in
            try auth.require(request)
            let login = try ctx.parameters.require("login")
            let body = try await request.jsonBody()
            guard let limit = body["limit"] as? Int, limit >= 0 else { throw APIError(.badRequest, "body must be {\"limit\": N} with N ≥ 0") }
            return try await setLimit(login: login, limit: limit)
        }
    }

    func run(_ body: () async throws -> JSONValue) async throws -> Response {
        do {
            return JSONResponse.ok(try await body())
        } catch let error as HubActionError {
            throw APIError(error.code == .notFound ? .notFound : .conflict, error.message)
        }
    }

    /// Changes an owner's limit in Postgres and in the admission script's cache, then wakes the
    /// scheduler: the change takes effect at the next evaluation.
    func setLimit(login: String, limit: Int) async throws -> Response {
        let updated = try await context.postgres.query("UPDATE owners SET concurrency_limit = $2 WHERE login = $1 RETURNING id", [.text(login), .int(limit)])
        guard !updated.rows.isEmpty else { throw APIError(.notFound, "unknown owner \(login)") }
        try await context.slots.setLimits(owner: login, max: limit)
        try await context.slots.wake(owner: login, reason: "limit changed")
        return JSONResponse.ok(.object(["owner": .string(login), "limit": .int(limit)]))
    }
}
