import ConveyorRedis
import ConveyorThreads
import Dispatch
import Logging
import Metrics
import ServiceLifecycle

/// A consumer-group reader for one role (docs/architecture.md §4): at-least-once, ack after the handler commits.
///
/// On start, and after any failure, it first re-reads this consumer's own pending entries (`0`),
/// then blocks for new ones (`>`) on a dedicated connection. The handler returns the ids it has
/// finished with; only those are acknowledged. Entries it could not handle stay pending and are
/// retried, or reclaimed by another node after the lease.
public struct StreamConsumer: Service {
    public typealias Handler = @Sendable ([(stream: String, entry: StreamEntry)]) async throws -> [(stream: String, id: String)]
    /// A handler that may leave a batch's last step to run while the next batch is handled.
    public typealias DeferringHandler = @Sendable ([(stream: String, entry: StreamEntry)]) async throws -> StreamBatchResult

    let context: NodeContext
    let streams: [String]
    let group: String
    let batchSize: Int
    let blockMilliseconds: Int
    let handler: DeferringHandler
    let retryPendingEvery: Duration

    public init(context: NodeContext, streams: [String], group: String, batchSize: Int = 100, blockMilliseconds: Int = 2000,
                retryPendingEvery: Duration = .seconds(5), handler: @escaping Handler) {
        self.init(context: context, streams: streams, group: group, batchSize: batchSize, blockMilliseconds: blockMilliseconds,
                  retryPendingEvery: retryPendingEvery, deferringHandler: { StreamBatchResult(done: try await handler($0)) })
    }

    public init(context: NodeContext, streams: [String], group: String, batchSize: Int = 100, blockMilliseconds: Int = 2000,
                retryPendingEvery: Duration = .seconds(5), deferringHandler: @escaping DeferringHandler) {
        self.context = context
        self.streams = streams
        self.group = group
        self.batchSize = batchSize
        self.blockMilliseconds = blockMilliseconds
        self.retryPendingEvery = retryPendingEvery
        self.handler = deferringHandler
    }

    /// Where reading has got to, across passes.
    struct ReadPosition {
        /// Re-read this consumer's own pending entries (`0`) rather than block for new ones (`>`).
        var pending = true
        var lastPendingRead = ContinuousClock.now
        /// A separate clock for taking over dead consumers' entries: rereading our own pending list
        /// (which happens often when a handler keeps failing) must not postpone it.
        var lastReclaim = ContinuousClock.now
    }

    /// The consumer's metrics, labelled with its group.
    struct ConsumerMetrics {
        let latency: Metrics.Timer
        let failures: Counter
        let handled: Counter

        init(group: String) {
            latency = Metrics.Timer(label: "conveyor_stream_handler_duration_seconds", dimensions: [("group", group)])
            failures = Counter(label: "conveyor_stream_handler_errors_total", dimensions: [("group", group)])
            handled = Counter(label: "conveyor_stream_entries_total", dimensions: [("group", group)])
        }
    }

    public func run() async throws {
        let connection = context.redis.dedicatedConnection(name: "\(group)-reader")
        let metrics = ConsumerMetrics(group: group)
        let deferred = DeferredAcks(redis: context.redis, group: group)
        var position = ReadPosition()
        let runner = RoleRunner("stream consumer \(group)", logger: context.logger, backoff: Backoff(initial: .milliseconds(100), maximum: .seconds(5)),
                                onFailure: { _ in metrics.failures.increment() })
        await runner.run {
            do {
                try await pass(&position, connection: connection, deferred: deferred, metrics: metrics)
            } catch {
                position.pending = true
                throw error
            }
        }
        // The last batch's deferred work finishes (and is acknowledged) before the consumer ends.
        await deferred.drain()
        await connection.close()
    }

    /// One batch: take over dead consumers' entries when due, read, handle, acknowledge, and leave
    /// the deferred part running while the next batch is read.
    func pass(_ position: inout ReadPosition, connection: RedisConnection, deferred: DeferredAcks, metrics: ConsumerMetrics) async throws {
        for stream in streams { try await context.redis.ensureGroup(stream, group: group) }
        try await reclaimIfDue(&position)
        let read = try await readBatch(&position, connection: connection)
        // Entries whose deferred work is still running are pending too; they are not handled twice.
        let items = position.pending ? read.filter { !deferred.isInFlight($0.entry.id) } : read
        if items.isEmpty {
            position.pending = false
            return
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = try await handler(items)
        metrics.latency.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start))
        metrics.handled.increment(by: Int64(result.done.count + result.deferred.count))
        try await acknowledge(result.done)
        if let work = result.work { await deferred.submit(result.deferred, work: work) }
        // A full pending batch means more may be pending; otherwise go back to new entries.
        if position.pending && read.count < batchSize { position.pending = false }
        if result.done.count + result.deferred.count < items.count {
            // Entries the handler could not finish stay pending: read them again after a pause.
            position.pending = true
            await RoleRunner.pause(.milliseconds(200))
        }
    }

    /// Every `retryPendingEvery`: take over dead consumers' entries, and reread our own pending ones.
    func reclaimIfDue(_ position: inout ReadPosition) async throws {
        if ContinuousClock.now - position.lastPendingRead > retryPendingEvery { position.pending = true }
        if ContinuousClock.now - position.lastReclaim > retryPendingEvery {
            position.lastReclaim = ContinuousClock.now
            try await reclaimFromDeadConsumers()
            position.pending = true
        }
    }

    /// This consumer's pending entries, or new ones (blocking on the dedicated connection).
    func readBatch(_ position: inout ReadPosition, connection: RedisConnection) async throws -> [(stream: String, entry: StreamEntry)] {
        let batch: [(stream: String, entries: [StreamEntry])]
        if position.pending {
            batch = try await context.redis.xreadgroup(group: group, consumer: context.settings.nodeID, streams: streams, id: "0", count: batchSize)
            position.lastPendingRead = ContinuousClock.now
        } else {
            batch = try await connection.xreadgroupBlocking(group: group, consumer: context.settings.nodeID, streams: streams,
                                                            count: batchSize, blockMilliseconds: blockMilliseconds)
        }
        return batch.flatMap { s in s.entries.map { (stream: s.stream, entry: $0) } }
    }

    /// Acknowledges the entries the handler finished, per stream.
    func acknowledge(_ done: [(stream: String, id: String)]) async throws {
        for stream in Set(done.map(\.stream)) {
            try await context.redis.xack(stream, group: group, ids: done.filter { $0.stream == stream }.map(\.id))
        }
    }

    /// Takes over entries idle past the lease in this group (their consumer is dead or stuck);
    /// they become this consumer's pending entries and are handled on the next pending read.
    /// Entries delivered more than `maxDeliveries` times go to `cv:dead:<stream>` instead.
    func reclaimFromDeadConsumers() async throws {
        let maxDeliveries = Int64(context.settings.maxDeliveries)
        for stream in streams {
            try await context.redis.xautoclaimAll(stream, group: group, consumer: context.settings.nodeID,
                                                  minIdleMilliseconds: context.settings.leaseMilliseconds, count: 100, maxRounds: 20) { batch in
                Counter(label: "conveyor_consumer_reclaimed_total", dimensions: [("group", group)]).increment(by: Int64(batch.claimed.count))
                for entry in batch.claimed {
                    let deliveries = try await context.redis.xpending(stream, group: group, start: entry.id, end: entry.id, count: 1).first?.deliveries ?? 0
                    guard deliveries > maxDeliveries else { continue }
                    var fields: [(String, RedisArgument)] = (entry.fields ?? [:]).map { ($0.key, RedisArgument(bytes: $0.value)) }
                    fields.append(("dead_reason", RedisArgument("delivered \(deliveries) times to group \(group)")))
                    try await context.redis.xadd(context.keys.dead(stream), fields: fields, trim: .maxLenApprox(100_000))
                    try await context.redis.xack(stream, group: group, ids: [entry.id])
                    Counter(label: "conveyor_reaper_dead_lettered_total").increment()
                    context.logger.error("dead-lettered a stream entry", metadata: ["stream": "\(stream)", "id": "\(entry.id)", "deliveries": "\(deliveries)"])
                }
            }
        }
    }
}
