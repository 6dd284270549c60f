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
        let execution = ExecutionJob(
            id: job.id, attempt: job.attempt, script: ScriptCompiler.compile(job: job.spec, checkout: job.checkout),
            environment: ["CONVEYOR_JOB_NUMBER": String(job.spec.number), "CONVEYOR_BRANCH": job.checkout.branch ?? "",
                          "CONVEYOR_COMMIT": job.checkout.sha],
            readOnlyPaths: job.readOnlyPaths, killGrace: .seconds(context.settings.cancelGraceSeconds))
        let (outcome, stop) = await withTaskGroup(of: Step.self) { group in
            group.addTask { [executor, reporter, handle, metrics, claimedAt, sends] in
                do {
                    return .ended(.success(try await executor.run(execution, started: {
                        let at = nowMillis()
                        handle.markStarted(at: at)
                        log.touch()
                        metrics.claimToStart(since: claimedAt)
                        sends.add(reporter.command(reporter.startedEvent(at: at)))
                    }, output: log.append)))
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
        """
        Worker information
        hostname: \(context.settings.nodeID)
        executor: \(executor.name)
        job: \(job.id) attempt \(job.attempt)


        """
    }
}
