import ConveyorCore
import ConveyorRedis

/// Watches a running job and says when to stop it: a stop request, the log limit, the no-output and
/// hard timeouts (both counted from the script's start), the cancel key (checked every 250 ms), and a
/// lost lease. It renews the lease every lease/3 with `renew.lua`, which never steals an entry.
///
/// When Redis lost the job's queue entry (emptied, flushed, or a promoted replica that lagged), the
/// lease is re-established from PostgreSQL (`LeaseRecovery`) rather than given up: the job goes on,
/// its lease is then its slot alone, and its log and state updates are sent again.
struct JobMonitor: Sendable {
    let context: NodeContext
    let job: ClaimedJob
    let owner: String
    let queueStream: String
    let entryID: String
    let handle: JobHandle
    let log: LogStream
    let recovery: LeaseRecovery

    /// Returns why to stop, or nil once cancelled (the script ended by itself).
    func watch() async -> StopReason? {
        let lease = Duration.milliseconds(context.settings.leaseMilliseconds)
        // The runner checked the cancel key just before the attempt began.
        var nextCancelCheck = ContinuousClock.now + .milliseconds(250)
        var nextRenewal = ContinuousClock.now + lease / 3
        var lastRenewal = ContinuousClock.now
        var slotOnly = false
        var masterChanges = context.redis.endpoint.masterChanges
        while !Task.isCancelled {
            if let request = handle.stopRequest { return request }
            if log.limitExceeded { return .logLimit(job.maxLogBytes) }
            if let started = handle.startedAt {
                if ContinuousClock.now - started.instant > job.hardTimeout { return .hardTimeout(job.hardTimeout) }
                if log.silence > job.noOutputTimeout { return .noOutput(job.noOutputTimeout) }
            }
            if ContinuousClock.now >= nextCancelCheck {
                if await cancelRequested() { return .canceled }
                nextCancelCheck = .now + .milliseconds(250)
            }
            if ContinuousClock.now >= nextRenewal {
                switch await renew(lease: lease, slotOnly: slotOnly) {
                case 1?: lastRenewal = .now
                case 2?:
                    // Only a lease renewed within the last lease may be re-established: past that,
                    // the reaper may already have handed the job over (a paused worker stays fenced).
                    guard ContinuousClock.now - lastRenewal < lease, await recovery.reestablish(job: job, owner: owner, handle: handle) else {
                        return .leaseLost
                    }
                    slotOnly = true
                    lastRenewal = .now
                    await log.resend()
                case nil: if ContinuousClock.now - lastRenewal > lease { return .leaseLost }
                default: return .leaseLost
                }
                // A failover may have promoted a replica without the last log parts: send them again.
                let changes = context.redis.endpoint.masterChanges
                if changes != masterChanges {
                    masterChanges = changes
                    await log.resend()
                    await recovery.resendState(handle: handle)
                }
                nextRenewal = .now + lease / 3
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return nil
    }

    private func cancelRequested() async -> Bool {
        ((try? await context.redis.send(["EXISTS", RedisArgument(context.keys.cancel(job.id))]))?.int ?? 0) > 0
    }

    /// 1 renewed, 0 lost, 2 unknown to Redis (see renew.lua), nil when Redis could not be asked.
    private func renew(lease: Duration, slotOnly: Bool) async -> Int64? {
        let deadline = nowMillis() + Int64(context.settings.leaseMilliseconds)
        do {
            let reply = try await context.redis.evaluate(
                context.scripts.renew, keys: [RedisArgument(queueStream), RedisArgument(context.keys.running(owner))],
                args: [RedisArgument(Groups.workers), RedisArgument(context.settings.nodeID), RedisArgument(entryID),
                       RedisArgument(job.id), RedisArgument(deadline), slotOnly ? "slot" : "entry"])
            return reply.int ?? 0
        } catch {
            context.logger.warning("lease renewal failed", metadata: ["job": "\(job.id)", "error": "\(error)"])
            return nil
        }
    }
}
