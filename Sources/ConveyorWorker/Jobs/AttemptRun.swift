import ConveyorCache
import ConveyorCore
import ConveyorModel
import Dispatch
import Foundation

/// One attempt's execution: the script runs in the executor while a `JobMonitor` watches it; the first
/// of them to finish decides, and the other is cancelled (which stops the script).
struct AttemptRun: Sendable {
    let context: NodeContext
    let executor: any Executor
    let metrics: WorkerMetrics
    let job: ClaimedJob
    let owner: String
    let stream: String
    let entryID: String
    let reporter: StateReporter
    let handle: JobHandle
    let claimedAt: DispatchTime
    /// `received` and `started`, held briefly (see `PendingSends`).
    let sends: PendingSends
    /// Where build caches are kept; nil when this worker keeps none.
    let cacheStore: CacheStore?

    private enum Step: Sendable {
        case ended(Result<ExecutionOutcome, any Error>)
        case stop(StopReason?)
    }

    func run(receivedAt: Int64) async throws {
        let log = LogStream(job: job.id, attempt: job.attempt, context: context, secrets: job.secrets, maxBytes: job.maxLogBytes)
        log.start()
        log.append(header())
        let monitor = JobMonitor(context: context, job: job, owner: owner, queueStream: stream, entryID: entryID, handle: handle, log: log,
                                 recovery: LeaseRecovery(context: context, reporter: reporter, receivedAt: receivedAt))
        let cache = JobCache.plan(job, store: cacheStore, executor: executor, context: context)
        let script: String
        do {
            script = try ScriptCompiler.compile(job: job.spec, checkout: job.checkout, builtinEnv: job.builtinEnv, cache: cache?.options)
        } catch {
            // A value bash cannot carry (a NUL byte): running again would fail the same way.
            try await finish(.finished(.errored, reason: "script_invalid", trailer: "\n\nThe build script could not be generated: \(error).\n"),
                             log: log, receivedAt: receivedAt)
            return
        }
        let execution = ExecutionJob(
            id: job.id, attempt: job.attempt, script: script,
            environment: ["CONVEYOR_JOB_NUMBER": job.facts.jobNumber, "CONVEYOR_BRANCH": job.facts.branch,
                          "CONVEYOR_COMMIT": job.checkout.sha],
            readOnlyPaths: job.readOnlyPaths, killGrace: .seconds(context.settings.cancelGraceSeconds), limits: job.limits)
        let (outcome, stop) = await withTaskGroup(of: Step.self) { group in
            // The cache moves inside this task, so the monitor keeps the lease while archives travel.
            group.addTask { [executor, reporter, handle, metrics, claimedAt, sends] in
                do {
                    var execution = execution
                    if let cache {
                        let fetched = await cache.fetch()
                        execution.files = fetched.files
                        if let note = fetched.note { log.append(note) }
                    }
                    let ended = try await executor.run(execution, started: {
                        let at = nowMillis()
                        handle.markStarted(at: at)
                        log.touch()
                        metrics.claimToStart(since: claimedAt)
                        sends.add(reporter.command(reporter.startedEvent(at: at)))
                    }, output: log.append)
                    // Only a script that ran to its end (not stopped) leaves a cache worth keeping.
                    if let cache, !Task.isCancelled, let line = await cache.upload() { log.append(line) }
                    return .ended(.success(ended))
                } catch {
                    return .ended(.failure(error))
                }
            }
            group.addTask { .stop(await monitor.watch()) }
            var outcome: Result<ExecutionOutcome, any Error> = .failure(ExecutorError("the executor did not finish"))
            var stop: StopReason?
            var ended = false
            for await step in group {
                switch step {
                case .ended(let result):
                    outcome = result
                    ended = true
                    group.cancelAll()
                case .stop(let reason?) where !ended:
                    stop = reason
                    group.cancelAll()
                case .stop:
                    break
                }
            }
            return (outcome, stop)
        }
        // Cancelled from outside (the service is being torn down): the job is reset, never left stuck.
        let reason = stop ?? (Task.isCancelled ? .shutdown : nil)
        await cache?.removeStaging()
        try await finish(AttemptEnd.decide(stop: reason, outcome: outcome), log: log, receivedAt: receivedAt)
    }

    /// Ends the attempt with one pipeline: held updates, the log's last parts, the final update, the ack.
    private func finish(_ end: AttemptEnd, log: LogStream, receivedAt: Int64) async throws {
        let held = await sends.finalPrefix()
        switch end {
        case .abandoned:
            context.logger.warning("lease lost; the attempt is no longer this worker's", metadata: ["job": "\(job.id)", "attempt": "\(job.attempt)"])
            if !held.isEmpty { await reporter.sendAll(held) }
            await log.abandon()
        case .reset(let reason, let trailer):
            let parts = await log.finishHandingOver(trailer: trailer)
            try await reporter.finalPipeline(held + parts, final: reporter.resetEvent(reason: reason))
        case .finished(let result, let reason, let trailer):
            let parts = await log.finishHandingOver(trailer: trailer)
            try await reporter.finalPipeline(held + parts, final: reporter.finishedEvent(result, reason: reason, receivedAt: receivedAt,
                                                                                        startedAt: handle.startedAt?.millis))
            metrics.finished(result.rawValue)
        }
    }

    private func header() -> String {
        let limits = (executor is LocalExecutor ? "limits: \(job.limits.summary)\n" + job.limits.notes.map { "note: \($0)\n" }.joined() : "") + "\n"
        return """
        Worker information
        hostname: \(context.settings.nodeID)
        executor: \(executor.name)
        job: \(job.id) attempt \(job.attempt)
        \(limits)\(Self.configWarnings(job.configWarnings))\(Self.notices(job.notices))
        """
    }

    /// Secrets withheld or left out, and why (never a value).
    static func notices(_ notices: [String]) -> String {
        notices.isEmpty ? "" : notices.map { $0 + "\n" }.joined() + "\n"
    }

    /// The config's warnings in yellow, as Travis shows its "Build config validation" messages.
    static func configWarnings(_ warnings: [String]) -> String {
        guard !warnings.isEmpty else { return "\n" }
        return "\u{1B}[33;1mBuild config warnings:\u{1B}[0m\n" + warnings.map { "\u{1B}[33m  \($0)\u{1B}[0m\n" }.joined() + "\n\n"
    }
}
