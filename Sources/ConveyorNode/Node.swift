import ConveyorCore
import ConveyorGatekeeper
import ConveyorHTTPClient
import ConveyorHub
import ConveyorLogs
import ConveyorReaper
import ConveyorScheduler
import ConveyorThreads
import ConveyorWeb
import ConveyorWorker
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// Assembles a node: the roles it was asked for, plus heartbeat and metrics, in one ServiceGroup
/// that drains on SIGTERM/SIGINT.
public enum Node {
    /// Bootstraps metrics once per process and returns how to render them.
    public static func bootstrapMetrics() -> @Sendable () -> String {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return {
            var buffer = [UInt8]()
            registry.emit(into: &buffer)
            return MetricHelp.annotate(String(decoding: buffer, as: UTF8.self))
        }
    }

    /// Whether this node's roles make outbound HTTP calls (notifications, the log archive).
    public static func needsHTTP(_ settings: Settings) -> Bool {
        settings.roles.contains(.hub) || (settings.s3Endpoint != nil && (settings.roles.contains(.logs) || settings.roles.contains(.web)))
            || (settings.cacheStore == "s3" && settings.roles.contains(.worker))
    }

    /// The services of a node. `http` must be given when `needsHTTP` is true; the caller shuts it down.
    public static func services(context: NodeContext, metricsText: @escaping @Sendable () -> String, http: CurlHTTPClient?) throws -> [any Service] {
        let roles = context.settings.roles
        let settings = context.settings
        var services: [any Service] = [Heartbeat(context: context)]
        var archive: S3Client?
        if let endpoint = settings.s3Endpoint, let http {
            archive = S3Client(config: S3Config(endpoint: endpoint, bucket: settings.s3Bucket, region: settings.s3Region,
                                                accessKey: settings.s3AccessKey ?? "", secretKey: settings.s3SecretKey ?? ""), http: http)
        }
        if roles.contains(.gatekeeper) {
            services.append(try GatekeeperService(context: context))
            services.append(CronRunner(context: context))
        }
        if roles.contains(.scheduler) { services.append(SchedulerService(context: context)) }
        if roles.contains(.hub) {
            services.append(HubService(context: context))
            if let http { services.append(NotifyService(context: context, http: http)) }
        }
        if roles.contains(.logs) { services.append(LogsService(context: context, archive: archive)) }
        if roles.contains(.reaper) { services.append(ReaperService(context: context)) }
        if roles.contains(.web) {
            try WebService.checkSettings(settings)
            services.append(WebService(context: context, logStore: LogStore(context: context, archive: archive), metricsText: metricsText, http: http))
            services.append(ClusterGauges(context: context, interval: .seconds(10)))
        } else {
            services.append(ProbeService(context: context, metricsText: metricsText))
        }
        // Workers last: on shutdown the group stops services in reverse order, so workers drain first.
        if roles.contains(.worker) { services.append(WorkerService(context: context, http: http)) }
        return services
    }

    /// Runs a node until SIGTERM or SIGINT, then drains.
    public static func run(settings: Settings, logger: Logger) async throws {
        let metricsText = bootstrapMetrics()
        let context = try NodeContext.make(settings: settings, logger: logger)
        if settings.migrateOnStart { try await migrateWithRetry(context) }
        let http = needsHTTP(settings) ? CurlHTTPClient(threads: 2) : nil
        let services = try self.services(context: context, metricsText: metricsText, http: http)
        logger.info("node starting", metadata: ["node": "\(settings.nodeID)", "roles": "\(settings.roles.sorted().map(\.rawValue).joined(separator: ","))",
                                                "redis": "\(settings.redisURL.redactedURL)", "http": "\(settings.roles.contains(.web) ? settings.httpPort : settings.metricsPort)"])
        // Graceful shutdown may take the workers' drain grace and a little more; then services are
        // cancelled; the deadline, told first, ends the process if that is not enough.
        var configuration = ServiceGroupConfiguration(
            services: services.map { .init(service: $0) }
                + [.init(service: ShutdownDeadline(seconds: settings.drainGraceSeconds + 4, logger: logger), successTerminationBehavior: .ignore)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = .milliseconds(Int((settings.drainGraceSeconds + 2) * 1000))
        let group = ServiceGroup(configuration: configuration)
        do {
            try await group.run()
        } catch {
            await http?.shutdown()
            throw error
        }
        await http?.shutdown()
        await context.close()
    }

    /// Nodes may start before Postgres is ready; keep trying for a while with a clear message.
    static func migrateWithRetry(_ context: NodeContext) async throws {
        var backoff = Backoff(initial: .milliseconds(250), maximum: .seconds(5))
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do {
                try await context.migrate()
                return
            } catch {
                if ContinuousClock.now > deadline { throw error }
                context.logger.warning("migration failed; retrying", metadata: ["error": "\(error)"])
                try await Task.sleep(for: backoff.next())
            }
        }
    }
}

extension String {
    /// The URL without a password, for logs.
    var redactedURL: String {
        guard let at = lastIndex(of: "@"), let scheme = range(of: "://") else { return self }
        return String(self[..<scheme.upperBound]) + "***" + String(self[at...])
    }
}
