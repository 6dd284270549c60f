import ConveyorCore
import ConveyorRedis
import ServiceLifecycle

/// The hub role: consumes `cv:state` in group `hub` and keeps job and build state in Postgres.
///
/// Each batch read from the stream is applied in one transaction (`StateBatchHandler`) and
/// acknowledged only after it committed and its effects ran; the effects of one batch run while the
/// next batch is committed. When a batch fails, its entries are
/// applied one by one (`StateUpdateHandler`) so one bad entry can't hold up the others: an entry
/// whose transaction fails stays pending and is retried (later entries of the same job wait with
/// it, so a job's events keep their order). A second task sweeps `hub_outbox` for effects a dead
/// hub left behind.
public struct HubService: Service {
    let context: NodeContext
    let outboxSweepEvery: Duration
    let outboxAgeSeconds: Double

    public init(context: NodeContext) {
        self.init(context: context, outboxSweepEvery: .seconds(5), outboxAgeSeconds: 30)
    }

    /// `outboxAgeSeconds`: how old an outbox row must be before the sweep takes it from its hub.
    public init(context: NodeContext, outboxSweepEvery: Duration, outboxAgeSeconds: Double) {
        self.context = context
        self.outboxSweepEvery = outboxSweepEvery
        self.outboxAgeSeconds = outboxAgeSeconds
    }

    public func run() async throws {
        let single = StateUpdateHandler(context: context)
        let batch = StateBatchHandler(context: context)
        let logger = context.logger
        let consumer = StreamConsumer(context: context, streams: [context.keys.state], group: Groups.hub, batchSize: 500) { items -> StreamBatchResult in
            var done: [(stream: String, id: String)] = []
            var updates: [(item: (stream: String, id: String), update: StateUpdate)] = []
            for item in items {
                if let update = StateUpdate(item.entry) {
                    updates.append(((item.stream, item.entry.id), update))
                } else {
                    logger.error("unreadable state update acknowledged and dropped", metadata: ["id": "\(item.entry.id)"])
                    done.append((item.stream, item.entry.id))
                }
            }
            do {
                // The batch's Redis effects run while the next batch is read and committed; its
                // entries are acknowledged after them.
                let committed = try await batch.commit(updates.map(\.update))
                for job in Set(committed.outcome.unknownJobs) {
                    logger.warning("state update for an unknown job dropped", metadata: ["job": "\(job)"])
                }
                return StreamBatchResult(done: done, deferred: updates.map(\.item), work: { await committed.carryOut(context: context) })
            } catch {
                logger.warning("state batch failed; applying its updates one by one", metadata: ["updates": "\(updates.count)", "error": "\(error)"])
            }
            var blocked = Set<Int64>()
            for (item, update) in updates {
                if blocked.contains(update.job) { continue }
                do {
                    if try await single.handle(update) == .unknownJob {
                        logger.warning("state update for an unknown job dropped", metadata: ["job": "\(update.job)"])
                    }
                    done.append(item)
                } catch {
                    logger.warning("state update failed; it stays pending", metadata: ["job": "\(update.job)", "error": "\(error)"])
                    blocked.insert(update.job)
                }
            }
            return StreamBatchResult(done: done)
        }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await consumer.run() }
            group.addTask { await sweepOutbox() }
        }
    }

    private func sweepOutbox() async {
        await RoleRunner("hub outbox sweep", logger: context.logger, every: outboxSweepEvery).run {
            try await Outbox.sweep(context: context, olderThanSeconds: outboxAgeSeconds)
        }
    }
}
