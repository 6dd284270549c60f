import ConveyorCore
import ConveyorModel
import ConveyorRedis
import ConveyorScheduler
import Hummingbird

/// What operators inspect: queues, owners, nodes; and the probes.
struct OpsRoutes: Sendable {
    let context: NodeContext
    let metricsText: @Sendable () -> String

    func register<C: RequestContext>(on router: Router<C>) {
        router.get("/api/v1/queues") { _, _ in JSONResponse.ok(try await ClusterInspector(context: context).queues()) }
        router.get("/api/v1/nodes") { _, _ in JSONResponse.ok(try await ClusterInspector(context: context).nodes()) }
        router.get("/api/v1/owners") { _, _ in JSONResponse.ok(try await ClusterInspector(context: context).owners()) }
        router.get("/api/v1/owners/:login") { _, ctx in try await owner(try ctx.parameters.require("login")) }
        router.get("/api/v1/owners/:login/queue") { _, ctx in try await owner(try ctx.parameters.require("login")) }
        Self.registerProbes(on: router, context: context, metricsText: metricsText)
    }

    func owner(_ login: String) async throws -> Response {
        guard let report = try await OwnerQueueReport.make(owner: login, context: context) else {
            throw APIError(.notFound, "unknown owner \(login)")
        }
        return JSONResponse.encodable(report)
    }

    /// `/metrics`, `/healthz` (the process answers) and `/readyz` (Redis and Postgres reachable).
    static func registerProbes<C: RequestContext>(on router: Router<C>, context: NodeContext, metricsText: @escaping @Sendable () -> String) {
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(string: metricsText())))
        }
        router.get("/healthz") { _, _ in JSONResponse.ok(.object(["status": .string("ok"), "node": .string(context.settings.nodeID)])) }
        router.get("/readyz") { _, _ in
            var checks: [String: JSONValue] = [:]
            var ready = true
            do { _ = try await context.redis.send("PING"); checks["redis"] = .string("ok") } catch { ready = false; checks["redis"] = .string("\(error)") }
            do { try await context.postgres.query("SELECT 1"); checks["postgres"] = .string("ok") } catch { ready = false; checks["postgres"] = .string("\(error)") }
            var body: [String: JSONValue] = ["ready": .bool(ready), "checks": .object(checks)]
            let warnings = context.status.warnings
            if !warnings.isEmpty { body["warnings"] = .array(warnings.map(JSONValue.string)) }
            return JSONResponse.ok(.object(body), status: ready ? .ok : .serviceUnavailable)
        }
    }
}
