import ConveyorRedis
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

    public func run() async throws {
        let logger = context.logger
        let connection = context.redis.dedicatedConnection(name: "\(group)-reader")
        let latency = Metrics.Timer(label: "conveyor_stream_handler_duration_seconds", dimensions: [("group", group)])
        let failures = Counter(label: "conveyor_stream_handler_errors_total", dimensions: [("group", group)])
        let handled = Counter(label: "conveyor_stream_entries_total", dimensions: [("group", group)])
        var readPending = true
        var lastPendingRead = ContinuousClock.now
        // A separate clock for taking over dead consumers' entries: rereading our own pending list
        // (which happens often when a handler keeps failing) must not postpone it.
        var lastReclaim = ContinuousClock.now
        var backoff = Duration.milliseconds(100)
        let deferred = DeferredAcks(redis: context.redis, group: group)
        defer { Task { await connection.close() } }
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                for stream in streams { try await context.redis.ensureGroup(stream, group: group) }
                if ContinuousClock.now - lastPendingRead > retryPendingEvery { readPending = true }
                if ContinuousClock.now - lastReclaim > retryPendingEvery {
                    lastReclaim = ContinuousClock.now
                    try await reclaimFromDeadConsumers()
                    readPending = true
                }
                let batch: [(stream: String, entries: [StreamEntry])]
                if readPending {
                    batch = try await context.redis.xreadgroup(group: group, consumer: context.settings.nodeID, streams: streams, id: "0", count: batchSize)
                    lastPendingRead = ContinuousClock.now
                } else {
                    batch = try await connection.xreadgroupBlocking(group: group, consumer: context.settings.nodeID, streams: streams,
                                                                    count: batchSize, blockMilliseconds: blockMilliseconds)
                }
                let read = batch.flatMap { s in s.entries.map { (stream: s.stream, entry: $0) } }
                // Entries whose deferred work is still running are pending too; they are not handled twice.
                let items = readPending ? read.filter { !deferred.isInFlight($0.entry.id) } : read
                if items.isEmpty {
                    readPending = false
                    continue
                }
                let start = DispatchTime.now().uptimeNanoseconds
                let result = try await handler(items)
                latency.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start))
                let done = result.done
                handled.increment(by: Int64(done.count + result.deferred.count))
                for stream in Set(done.map(\.stream)) {
                    try await context.redis.xack(stream, group: group, ids: done.filter { $0.stream == stream }.map(\.id))
                }
                if let work = result.work { await deferred.submit(result.deferred, work: work) }
                // A full pending batch means more may be pending; otherwise go back to new entries.
                if readPending && read.count < batchSize { readPending = false }
                if done.count + result.deferred.count < items.count { readPending = true; try await Task.sleep(for: .milliseconds(200)) }
                backoff = .milliseconds(100)
            } catch is CancellationError {
                break
            } catch {
                failures.increment()
                logger.warning("stream consumer failed; retrying", metadata: ["group": "\(group)", "error": "\(error)"])
                readPending = true
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        // The last batch's deferred work finishes (and is acknowledged) before the consumer ends.
        await deferred.drain()
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
