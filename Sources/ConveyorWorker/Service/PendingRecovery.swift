import ConveyorCore
import ConveyorRedis

/// A restarted node first re-reads its own pending entries (`XREADGROUP … 0`): jobs of its previous
/// life. Their scripts died with it, so each is reported `reset` (reason `worker_restarted`; the hub
/// gives the job a new attempt) and acknowledged.
struct PendingRecovery: Sendable {
    let context: NodeContext
    let streams: [String]

    @discardableResult
    func run() async throws -> Int {
        var recovered = 0
        for stream in streams {
            var after = "0"
            while true {
                let batch = try await context.redis.xreadgroup(group: Groups.workers, consumer: context.settings.nodeID,
                                                               streams: [stream], id: after, count: 100)
                let entries = batch.first?.entries ?? []
                guard let last = entries.last else { break }
                for entry in entries {
                    if let queued = QueueEntry(entry) {
                        let reporter = StateReporter(context: context, job: queued.job, attempt: queued.attempt,
                                                     queueStream: stream, entryID: entry.id)
                        try await reporter.reset(reason: "worker_restarted")
                        recovered += 1
                        context.logger.info("job of a previous life reset", metadata: ["job": "\(queued.job)", "attempt": "\(queued.attempt)"])
                    }
                    try await context.redis.xack(stream, group: Groups.workers, ids: [entry.id])
                }
                after = last.id
            }
        }
        return recovered
    }
}
