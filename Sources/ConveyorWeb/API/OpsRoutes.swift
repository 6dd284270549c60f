import ConveyorCore
import ConveyorModel
import ConveyorRedis
import ConveyorScheduler
import Hummingbird

/// What operators inspect: queues, owners, nodes; and the probes. One owner's queue lists jobs of
/// every repository, private ones included, so it needs the token.
struct OpsRoutes: Sendable {
    let context: NodeContext
    let access: Access
    let metricsText: @Sendable () -> String

    func register(on router: Router<WebContext>) {
        router.get("/api/v1/queues") { request, _ in _ = try access.caller(request); return try await ClusterInspector(context: context).queues() }
        router.get("/api/v1/nodes") { request, _ in _ = try access.caller(request); return try await ClusterInspector(context: context).nodes() }
        router.get("/api/v1/owners") { request, _ in _ = try access.caller(request); return try await ClusterInspector(context: context).owners() }
        router.get("/api/v1/owners/:login") { request, ctx in try access.requireTrusted(request); return try await owner(try Slug.name("login", ctx.parameters.get("login"))) }
        router.get("/api/v1/owners/:login/queue") { request, ctx in try access.requireTrusted(request); return try await owner(try Slug.name("login", ctx.parameters.get("login"))) }
        Self.registerProbes(on: router, context: context, metricsText: metricsText)
    }

    func owner(_ login: String) async throws -> OwnerQueueReport {
        guard let report = try await OwnerQueueReport.make(owner: login, context: context) else {
            throw APIError(.notFound, "unknown owner \(login)")
        }
        return report
    }

    /// `/metrics`, `/healthz` (the process answers) and `/readyz` (Redis and Postgres reachable).
    static func registerProbes<C: RequestContext>(on router: Router<C>, context: NodeContext, metricsText: @escaping @Sendable () -> String) {
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: metricsText())))
        }
        router.get("/healthz") { _, _ in Health(status: "ok", node: context.settings.nodeID) }
        router.get("/readyz") { _, _ in
            var checks: [String: String] = [:]
            var ready = true
            do { _ = try await context.redis.send("PING"); checks["redis"] = "ok" } catch { ready = false; checks["redis"] = "\(error)" }
            do { try await context.postgres.query("SELECT 1"); checks["postgres"] = "ok" } catch { ready = false; checks["postgres"] = "\(error)" }
            let warnings = context.status.warnings
            return EditedResponse(status: ready ? .ok : .serviceUnavailable, response: Readiness(ready: ready, checks: checks, warnings: warnings.isEmpty ? nil : warnings))
        }
    }
}
