import ConveyorCore
import ConveyorRedis
import ServiceLifecycle

/// The hub role: consumes `cv:state` in group `hub` and keeps job and build state in Postgres.
///
/// Each batch read from the stream is split into lanes over disjoint builds (`BatchLanes`), each
/// applied in one transaction (`StateBatchHandler`), the lanes at once; entries are acknowledged only
/// after their lane committed and its effects ran; the effects of one batch run while the next batch
/// is committed. When a lane fails, its entries are
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
        let lanes = max(1, context.settings.hubBatchLanes)
        // Applies a failed lane's updates one by one, so one bad entry can't hold up the others; an
        // update whose transaction fails stays pending, and so do the later ones of its job.
        @Sendable func oneByOne(_ updates: [(item: (stream: String, id: String), update: StateUpdate)]) async -> [(stream: String, id: String)] {
            var done: [(stream: String, id: String)] = []
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
            return done
        }
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
            // Lanes over disjoint builds commit at once (`BatchLanes`); without the job → build map
            // (a failed read) the batch is one lane, as with `hub_batch_lanes: 1`.
            let buildOf = lanes > 1 ? ((try? await BatchLanes.builds(of: updates.map(\.update.job), context: context)) ?? [:]) : [:]
            let split = BatchLanes.split(updates, job: { $0.update.job }, buildOf: buildOf, lanes: lanes)
            let results = await withTaskGroup(of: (Int, Result<StateBatchHandler.Committed, any Error>).self) { group in
                for (index, lane) in split.enumerated() {
                    group.addTask {
                        do { return (index, .success(try await batch.commit(lane.map(\.update)))) } catch { return (index, .failure(error)) }
                    }
                }
                var results: [Int: Result<StateBatchHandler.Committed, any Error>] = [:]
                for await (index, result) in group { results[index] = result }
                return results
            }
            var deferred: [(stream: String, id: String)] = []
            var committed: [StateBatchHandler.Committed] = []
            for (index, lane) in split.enumerated() {
                switch results[index] {
                case .success(let result)?:
                    for job in Set(result.outcome.unknownJobs) {
                        logger.warning("state update for an unknown job dropped", metadata: ["job": "\(job)"])
                    }
                    committed.append(result)
                    deferred += split[index].map(\.item)
                case .failure(let error)?:
                    logger.warning("state batch failed; applying its updates one by one", metadata: ["updates": "\(lane.count)", "error": "\(error)"])
                    done += await oneByOne(lane)
                case nil:
                    done += await oneByOne(lane)
                }
            }
            // The lanes' Redis effects run while the next batch is read and committed; their entries
            // are acknowledged after them.
            if committed.isEmpty { return StreamBatchResult(done: done) }
            let effects = committed
            return StreamBatchResult(done: done, deferred: deferred, work: {
                await withDiscardingTaskGroup { group in
                    for lane in effects { group.addTask { await lane.carryOut(context: context) } }
                }
            })
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
