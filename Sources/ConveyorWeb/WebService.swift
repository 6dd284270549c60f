import ConveyorCache
import ConveyorCore
import ConveyorHTTPClient
import ConveyorHub
import ConveyorLogs
import ConveyorSecrets
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import Metrics
import ServiceLifecycle

/// The web role: webhooks, REST API, live streams (SSE and WebSocket), the web UI, and the probes.
public struct WebService: Service {
    let context: NodeContext
    let store: LogStore
    let metricsText: @Sendable () -> String
    /// For deleting build caches kept in S3 (`cache_store: s3`).
    let http: CurlHTTPClient?

    public init(context: NodeContext, logStore: LogStore, metricsText: @escaping @Sendable () -> String, http: CurlHTTPClient? = nil) {
        self.context = context
        self.store = logStore
        self.metricsText = metricsText
        self.http = http
    }

    /// Refuses settings the web role must not start with (no api_token without insecure_no_auth).
    public static func checkSettings(_ settings: Settings) throws {
        try Access.checkStartup(settings)
    }

    public func run() async throws {
        try Access.checkStartup(context.settings)
        if context.settings.apiToken == nil {
            context.logger.warning("insecure_no_auth: no api_token, every API call is open to anyone who can reach this port")
        }
        let fanout = EventFanout(context: context)
        let router = try Self.router(context: context, logStore: store, fanout: fanout, metricsText: metricsText, http: http)
        let app = Application(router: router, server: .http1WebSocketUpgrade(webSocketRouter: router),
                              configuration: .init(address: .hostname(context.settings.httpHost, port: context.settings.httpPort), serverName: "conveyor"),
                              logger: context.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await fanout.run() }
            // app.run(), not app.runService(): runService() installs its own SIGTERM handler in a
            // private ServiceGroup, so the server stopped before the node's group asked it to and the
            // node exited 1 ("A service has finished unexpectedly") on every SIGTERM.
            group.addTask { try await app.run() }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Every route of the web role (also what the in-process tests drive).
    static func router(context: NodeContext, logStore: LogStore, fanout: EventFanout, metricsText: @escaping @Sendable () -> String,
                       http: CurlHTTPClient? = nil) throws -> Router<WebContext> {
        let router = Router(context: WebContext.self)
        router.add(middleware: HTTPMetricsMiddleware())
        let access = Access(settings: context.settings)
        let keyring = try Keyring.from(context.settings)
        let repositoryKeys = RepositoryKeyStore(postgres: context.postgres, keyring: keyring)
        let intake = RequestIntake(context: context, keys: repositoryKeys)
        let logs = LogRoutes(context: context, store: logStore, fanout: fanout, access: access)
        WebhookRoutes(context: context, intake: intake).register(on: router)
        TriggerRoutes(context: context, intake: intake, access: access).register(on: router)
        RepoRoutes(context: context, access: access).register(on: router)
        ReadRoutes(context: context, access: access).register(on: router)
        ControlRoutes(context: context, actions: HubActions(context: context), access: access).register(on: router)
        OpsRoutes(context: context, access: access, metricsText: metricsText).register(on: router)
        RepoSettingsRoutes(context: context, keys: repositoryKeys, access: access).register(on: router)
        EnvVarRoutes(context: context, store: EnvVarStore(postgres: context.postgres, keyring: keyring), access: access).register(on: router)
        CronRoutes(context: context, access: access).register(on: router)
        CacheRoutes(context: context, access: access, store: CacheRoutes.store(context: context, http: http)).register(on: router)
        NotificationRoutes(context: context, access: access).register(on: router)
        logs.register(on: router)
        EventStreamRoutes(fanout: fanout, access: access).register(on: router)
        StaticRoutes().register(on: router)
        WebSocketRoutes(logs: logs, fanout: fanout, access: access).register(on: router)
        return router
    }
}

/// `/metrics`, `/healthz`, `/readyz` on nodes without the web role.
public struct ProbeService: Service {
    let context: NodeContext
    let metricsText: @Sendable () -> String

    public init(context: NodeContext, metricsText: @escaping @Sendable () -> String) {
        self.context = context
        self.metricsText = metricsText
    }

    public func run() async throws {
        let router = Router()
        OpsRoutes.registerProbes(on: router, context: context, metricsText: metricsText)
        let app = Application(router: router, configuration: .init(address: .hostname(context.settings.httpHost, port: context.settings.metricsPort), serverName: "conveyor"),
                              logger: context.logger)
        try await app.run()  // under the node's ServiceGroup (see WebService)
    }
}

/// Counts requests by method and status, and times them, without per-path labels.
struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let method = request.method.rawValue
        do {
            let response = try await next(request, context)
            record(method: method, status: response.status.code, start: start)
            return response
        } catch let error as any HTTPResponseError {
            record(method: method, status: error.status.code, start: start)
            throw error
        } catch {
            record(method: method, status: 500, start: start)
            throw error
        }
    }

    func record(method: String, status: Int, start: ContinuousClock.Instant) {
        Counter(label: "conveyor_http_requests_total", dimensions: [("method", method), ("status", String(status))]).increment()
        let elapsed = ContinuousClock.now - start
        Metrics.Timer(label: "conveyor_http_request_duration_seconds").recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
    }
}
