import ConveyorCore
import ConveyorHTTPClient
import Logging
import ServiceLifecycle

/// The logs role (docs/architecture.md §2): ingests `cv:logs` into Postgres and fans new parts out on
/// `cv:events`; aggregates logs after their final part (or when they went quiet); archives them
/// to object storage and purges them after verification when `archive` is set.
///
/// Any number of logs nodes may run: ingest is a consumer group, aggregation and archiving claim
/// logs with row locks and leases.
public struct LogsService: Service {
    let context: NodeContext
    let archive: S3Client?
    let configuration: LogsConfiguration
    let metrics = LogsMetrics()

    public init(context: NodeContext, archive: S3Client?) {
        self.init(context: context, archive: archive, configuration: LogsConfiguration(settings: context.settings))
    }

    public init(context: NodeContext, archive: S3Client?, configuration: LogsConfiguration) {
        self.context = context
        self.archive = archive
        self.configuration = configuration
    }

    public func run() async throws {
        if let archive {
            // A bucket we may not create (no permission) can still exist: archiving then just works.
            do { try await archive.createBucketIfMissing() } catch {
                context.logger.warning("could not create the log archive bucket", metadata: ["bucket": "\(archive.config.bucket)", "error": "\(error)"])
            }
        }
        let ingest = LogIngest(context: context, configuration: configuration, metrics: metrics)
        let consumer = StreamConsumer(context: context, streams: [context.keys.logs], group: Groups.logs,
                                      batchSize: configuration.batchSize, handler: ingest.handle)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await consumer.run() }
            group.addTask { await loop("aggregation") { try await aggregator.round() } }
            group.addTask { await loop("stream trim") { try await StreamTrimmer(context: context).trim(context.keys.logs) } }
            if let archiver { group.addTask { await loop("archive") { _ = try await archiver.round() } } }
            try await group.waitForAll()
        }
    }

    var aggregator: LogAggregator {
        LogAggregator(context: context, configuration: configuration, metrics: metrics, archive: archive)
    }

    var archiver: LogArchiver? {
        archive.map { LogArchiver(context: context, configuration: configuration, metrics: metrics, archive: $0) }
    }

    /// Repeats `body` every tick until shutdown; a failure is logged and retried on the next tick.
    private func loop(_ name: String, _ body: @Sendable () async throws -> Void) async {
        let tick = Duration.milliseconds(Int(configuration.tickSeconds * 1000))
        await RoleRunner("logs \(name)", logger: context.logger, every: tick).run(body)
    }
}
