import ConveyorCache
import ConveyorCore
import ConveyorHTTPClient
import ConveyorRedis
import Dispatch
import Foundation
import ServiceLifecycle

/// The worker role: claims jobs from `cv:queue:<name>` (group `workers`, consumer = node id) for its
/// free slots, runs each in the configured executor, and reports state and log parts.
///
/// On start it resets the jobs of its previous life (its own pending entries). On graceful shutdown it
/// stops claiming, lets running jobs finish within `drainGraceSeconds`, then stops the rest and resets
/// them (`worker_shutdown`) so they run elsewhere.
public struct WorkerService: Service {
    let context: NodeContext
    let executor: (any Executor)?
    /// For `cache_store: s3`; nil keeps the other stores working.
    let http: CurlHTTPClient?

    public init(context: NodeContext, http: CurlHTTPClient? = nil) {
        self.context = context
        self.executor = nil
        self.http = http
    }

    /// With an executor of the caller's making instead of the one the settings name.
    public init(context: NodeContext, executor: any Executor, http: CurlHTTPClient? = nil) {
        self.context = context
        self.executor = executor
        self.http = http
    }

    /// The build cache store of the settings (docs/cache.md), with this node's staging area emptied of
    /// a previous life's leftovers; nil (and a warning) when caching is off or misconfigured.
    private func cacheStore() async -> CacheStore? {
        do {
            let store = try CacheStore.make(settings: context.settings, http: http)
            if store != nil {
                let staging = JobCache.stagingRoot(context.settings)
                try await offPool("cache-staging") {
                    try? FileManager.default.removeItem(atPath: staging)
                    try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                }
            }
            return store
        } catch {
            context.logger.warning("build caches are off on this worker", metadata: ["error": "\(error)"])
            context.status.addWarning("build caches are off: \(error)")
            return nil
        }
    }

    public func run() async throws {
        let settings = context.settings
        let executor = try self.executor ?? ExecutorFactory.make(settings)
        for warning in try await Self.prepare(executor) {
            context.logger.warning("sandbox: \(warning)")
            context.status.addWarning("sandbox: \(warning)")
        }
        let streams = settings.workerQueues.map { context.keys.queue($0) }
        for stream in streams { try await context.redis.ensureGroup(stream, group: Groups.workers) }
        try await PendingRecovery(context: context, streams: streams).run()

        let metrics = WorkerMetrics()
        let pool = SlotPool(total: max(1, settings.workerSlots), metrics: metrics, status: context.status)
        let runner = JobRunner(context: context, executor: executor, metrics: metrics, cacheStore: await cacheStore())
        let connection = context.redis.dedicatedConnection(name: "worker-claim")
        let reader = QueueReader(context: context, streams: streams, connection: connection)
        context.logger.info("worker started", metadata: ["slots": "\(pool.total)", "queues": "\(settings.workerQueues)", "executor": "\(executor.name)"])

        await withDiscardingTaskGroup { group in
            await claimLoop(reader: reader, pool: pool) { stream, entry, handle in
                group.addTask {
                    await runner.run(entry, stream: stream, handle: handle, claimedAt: DispatchTime.now())
                    await pool.release(handle)
                }
            }
            let busy = await pool.busy
            if busy > 0 {
                context.logger.info("draining", metadata: ["running": "\(busy)", "grace_seconds": "\(settings.drainGraceSeconds)"])
            }
            if await !pool.waitIdle(timeout: .seconds(settings.drainGraceSeconds)) {
                await pool.stopAll(.shutdown)
            }
        }
        await connection.close()
        context.logger.info("worker stopped")
    }

    private func claimLoop(reader: QueueReader, pool: SlotPool,
                           start: (String, StreamEntry, JobHandle) async -> Void) async {
        await RoleRunner("claiming", logger: context.logger).run {
            let free = await pool.waitForFree(timeout: .seconds(1))
            guard free > 0 else { return }
            for (stream, entry) in try await reader.claim(free: free) {
                if Task.isCancelled || Task.isShuttingDownGracefully {
                    // Claimed while the drain began: hand it back at once.
                    await handBack(entry, stream: stream)
                    continue
                }
                let handle = JobHandle(job: QueueEntry(entry)?.job ?? 0)
                await pool.occupy(handle)
                await start(stream, entry, handle)
            }
        }
    }

    private func handBack(_ entry: StreamEntry, stream: String) async {
        guard let queued = QueueEntry(entry) else { return }
        let reporter = StateReporter(context: context, job: queued.job, attempt: queued.attempt, queueStream: stream, entryID: entry.id)
        do {
            try await reporter.reset(reason: "worker_shutdown")
            try await reporter.acknowledge()
        } catch {
            context.logger.warning("could not hand back a job claimed during drain", metadata: ["job": "\(queued.job)", "error": "\(error)"])
        }
    }

    /// Fails the service at start when the executor cannot work here (e.g. bwrap without namespaces);
    /// returns what works only in a weaker form (no cgroups, no network firewall).
    static func prepare(_ executor: any Executor) async throws -> [String] {
        guard let local = executor as? LocalExecutor else { return [] }
        return try await local.prepare()
    }
}
