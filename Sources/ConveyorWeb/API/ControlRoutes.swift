import ConveyorCore
import ConveyorHub
import ConveyorModel
import Hummingbird

/// Cancel and restart of jobs and builds, and owner limits; all need the token in the header.
struct ControlRoutes: Sendable {
    let context: NodeContext
    let actions: HubActions
    let access: Access

    func register(on router: Router<WebContext>) {
        router.post("/api/v1/jobs/:id/cancel") { request, ctx in
            try access.requireWrite(request)
            let id = try ctx.parameters.id("id")
            return JobActionResult(ok: true, changed: try await run { try await actions.cancelJob(id) })
        }
        router.post("/api/v1/jobs/:id/restart") { request, ctx in
            try access.requireWrite(request)
            let id = try ctx.parameters.id("id")
            return JobActionResult(ok: true, changed: try await run { try await actions.restartJob(id) })
        }
        router.post("/api/v1/builds/:id/cancel") { request, ctx in
            try access.requireWrite(request)
            let id = try ctx.parameters.id("id")
            return BuildActionResult(ok: true, jobs: try await run { try await actions.cancelBuild(id) })
        }
        router.post("/api/v1/builds/:id/restart") { request, ctx in
            try access.requireWrite(request)
            let id = try ctx.parameters.id("id")
            return BuildActionResult(ok: true, jobs: try await run { try await actions.restartBuild(id) })
        }
        router.put("/api/v1/owners/:login") { request, ctx in
            try access.requireWrite(request)
            let login = try Slug.name("login", ctx.parameters.get("login"))
            let body = try await request.decode(as: OwnerLimitBody.self, context: ctx)
            try body.validate()
            return try await setLimit(login: login, limit: body.limit)
        }
    }

    func run<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as HubActionError {
            throw APIError(error.code == .notFound ? .notFound : .conflict, error.message)
        }
    }

    /// Changes an owner's limit in Postgres and in the admission script's cache, then wakes the
    /// scheduler: the change takes effect at the next evaluation.
    func setLimit(login: String, limit: Int) async throws -> OwnerLimit {
        let updated = try await context.postgres.query("UPDATE owners SET concurrency_limit = $2 WHERE login = $1 RETURNING id", [.text(login), .int(limit)])
        guard !updated.rows.isEmpty else { throw APIError(.notFound, "unknown owner \(login)") }
        try await context.slots.setLimits(owner: login, max: limit)
        try await context.slots.wake(owner: login, reason: "limit changed")
        return OwnerLimit(owner: login, limit: limit)
    }
}
