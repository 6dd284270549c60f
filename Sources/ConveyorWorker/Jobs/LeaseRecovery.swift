import ConveyorCore
import ConveyorRedis

/// Re-establishes a running attempt's lease after Redis lost it (docs/runbook.md#redis-lost-or-behind),
/// asking PostgreSQL — the truth — whether the attempt is still this worker's.
struct LeaseRecovery: Sendable {
    let context: NodeContext
    let reporter: StateReporter
    let receivedAt: Int64

    /// True when PostgreSQL still has the job at this attempt, not final, and not another worker's:
    /// then the slot is put back (lease now + lease) and the attempt's state updates are sent again
    /// (they may have been lost too; the hub ignores what it already applied).
    func reestablish(job: ClaimedJob, owner: String, handle: JobHandle) async -> Bool {
        do {
            let row = try await context.postgres.read("SELECT state, attempt, worker FROM jobs WHERE id = $1", [.int(job.id)]).rows.first
            guard let row, row["attempt"].int == job.attempt, ["queued", "received", "started"].contains(row["state"].string ?? ""),
                  row["worker"].string == nil || row["worker"].string == context.settings.nodeID else {
                context.logger.warning("lease lost with Redis's data and the job moved on in PostgreSQL", metadata: ["job": "\(job.id)"])
                return false
            }
            let deadline = nowMillis() + Int64(context.settings.leaseMilliseconds)
            try await context.redis.send(["ZADD", RedisArgument(context.keys.running(owner)), RedisArgument(deadline), RedisArgument(job.id)])
            await resendState(handle: handle)
            context.logger.warning("re-established a lease Redis lost", metadata: ["job": "\(job.id)", "attempt": "\(job.attempt)"])
            return true
        } catch {
            context.logger.warning("could not re-establish a lost lease", metadata: ["job": "\(job.id)", "error": "\(error)"])
            return false
        }
    }

    /// `received` (and `started`, once started) again: idempotent for the hub (fixed sequence numbers).
    func resendState(handle: JobHandle) async {
        var commands = [reporter.command(reporter.receivedEvent(at: receivedAt))]
        if let started = handle.startedAt { commands.append(reporter.command(reporter.startedEvent(at: started.millis))) }
        await reporter.sendAll(commands)
    }
}
