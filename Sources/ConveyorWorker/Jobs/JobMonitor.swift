import ConveyorCore
import ConveyorRedis

/// Watches a running job and says when to stop it: a stop request, the log limit, the no-output and
/// hard timeouts (both counted from the script's start), the cancel key (checked every 250 ms), and a
/// lost lease. It renews the lease every lease/3 with `renew.lua`, which never steals an entry.
struct JobMonitor: Sendable {
    let context: NodeContext
    let job: ClaimedJob
    let owner: String
    let queueStream: String
    let entryID: String
    let handle: JobHandle
    let log: LogStream

    /// Returns why to stop, or nil once cancelled (the script ended by itself).
    func watch() async -> StopReason? {
        let lease = Duration.milliseconds(context.settings.leaseMilliseconds)
        // The runner checked the cancel key just before the attempt began.
        var nextCancelCheck = ContinuousClock.now + .milliseconds(250)
        var nextRenewal = ContinuousClock.now + lease / 3
        var lastRenewal = ContinuousClock.now
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
                switch await renew(lease: lease) {
                case true?: lastRenewal = .now
                case false?: return .leaseLost
                case nil: if ContinuousClock.now - lastRenewal > lease { return .leaseLost }
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

    /// true renewed, false lost, nil when Redis could not be asked.
    private func renew(lease: Duration) async -> Bool? {
        let deadline = nowMillis() + Int64(context.settings.leaseMilliseconds)
        do {
            let reply = try await context.redis.evaluate(
                context.scripts.renew, keys: [RedisArgument(queueStream), RedisArgument(context.keys.running(owner))],
                args: [RedisArgument(Groups.workers), RedisArgument(context.settings.nodeID), RedisArgument(entryID),
                       RedisArgument(job.id), RedisArgument(deadline)])
            return reply.int == 1
        } catch {
            context.logger.warning("lease renewal failed", metadata: ["job": "\(job.id)", "error": "\(error)"])
            return nil
        }
    }
}
