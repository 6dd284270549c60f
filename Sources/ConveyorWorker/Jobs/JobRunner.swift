import ConveyorCache
import ConveyorCore
import ConveyorModel
import ConveyorRedis
import ConveyorThreads
import Dispatch
import Foundation

/// Takes one claimed queue entry from checks to acknowledgement: load the job, skip stale or canceled
/// ones, report `received`, run the script under a `JobMonitor`, stream its log, report how it ended.
struct JobRunner: Sendable {
    let context: NodeContext
    let executor: any Executor
    let metrics: WorkerMetrics
    let loader: JobLoader
    let cacheStore: CacheStore?

    init(context: NodeContext, executor: any Executor, metrics: WorkerMetrics, cacheStore: CacheStore? = nil) {
        self.context = context
        self.executor = executor
        self.metrics = metrics
        self.cacheStore = cacheStore
        loader = JobLoader(context: context)
    }

    func run(_ entry: StreamEntry, stream: String, handle: JobHandle, claimedAt: DispatchTime) async {
        guard let queued = QueueEntry(entry) else {
            context.logger.warning("malformed queue entry acknowledged", metadata: ["stream": "\(stream)", "id": "\(entry.id)"])
            _ = try? await context.redis.xack(stream, group: Groups.workers, ids: [entry.id])
            return
        }
        let reporter = StateReporter(context: context, job: queued.job, attempt: queued.attempt, queueStream: stream, entryID: entry.id)
        do {
            try await process(queued, entryID: entry.id, stream: stream, reporter: reporter, handle: handle, claimedAt: claimedAt)
        } catch {
            // Left pending: the reaper resets it once its lease expires.
            context.logger.error("job failed in the worker; left to the reaper", metadata: ["job": "\(queued.job)", "error": "\(error)"])
        }
    }

    private func process(_ queued: QueueEntry, entryID: String, stream: String, reporter: StateReporter,
                         handle: JobHandle, claimedAt: DispatchTime) async throws {
        // The cancel key and the job row are read at once: two round trips in parallel.
        async let canceled = cancelRequested(queued.job)
        guard let job = try await load(queued.job) else {
            context.logger.warning("claimed job does not exist; acknowledged", metadata: ["job": "\(queued.job)"])
            return try await reporter.acknowledge()
        }
        guard job.attempt == queued.attempt, job.state == .queued || job.state == .created else {
            context.logger.info("stale queue entry skipped", metadata: ["job": "\(job.id)", "entry_attempt": "\(queued.attempt)",
                                                                        "attempt": "\(job.attempt)", "state": "\(job.state.rawValue)"])
            return try await reporter.acknowledge()
        }
        if try await canceled {
            let log = LogStream(job: job.id, attempt: job.attempt, context: context, secrets: [], maxBytes: job.maxLogBytes)
            log.start()
            await log.finish(trailer: "The job was canceled before it started.\n\nDone: Job Cancelled\n")
            try await reporter.finished(.canceled, reason: "canceled", receivedAt: nil, startedAt: nil)
            metrics.finished(JobState.canceled.rawValue)
            return try await reporter.acknowledge()
        }
        let receivedAt = nowMillis()
        // Held at most 50 ms: long enough for a quick job to end first, short enough that a UI
        // watching a long job sees it received and started at once.
        let sends = PendingSends(delay: .milliseconds(min(50, context.settings.logFlushMilliseconds))) { await reporter.sendHeld($0) }
        sends.add(reporter.command(reporter.receivedEvent(at: receivedAt)))
        let attempt = AttemptRun(context: context, executor: executor, metrics: metrics, job: job, owner: queued.owner,
                                 stream: stream, entryID: entryID, reporter: reporter, handle: handle, claimedAt: claimedAt, sends: sends,
                                 cacheStore: cacheStore)
        try await attempt.run(receivedAt: receivedAt)
    }

    /// Three tries; a `WorkerError` (the row cannot be read) is final at once.
    private func load(_ id: Int64) async throws -> ClaimedJob? {
        try await Retrying("loading job \(id)", logger: context.logger, metadata: ["job": "\(id)"], limit: .tries(3),
                           backoff: Backoff(initial: .milliseconds(300), maximum: .seconds(1)),
                           retryable: { !($0 is WorkerError) }).run {
            try await loader.load(id)
        }
    }

    private func cancelRequested(_ job: Int64) async throws -> Bool {
        (try await context.redis.send(["EXISTS", RedisArgument(context.keys.cancel(job))]).int ?? 0) > 0
    }
}
