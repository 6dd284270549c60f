import ConveyorCore
import ConveyorModel
import ConveyorRedis
import Logging

/// Sends one attempt's state updates to `cv:state` and acknowledges its queue entry.
///
/// Sequence numbers are fixed per kind: received 1, started 2, finished (or reset) 3, so a send
/// repeated after a lost answer is harmless. Every send is retried (`Retrying`): a lost `finished`
/// would leave the job to the reaper.
struct StateReporter: Sendable {
    static let receivedSeq = 1
    static let startedSeq = 2
    static let finalSeq = 3

    let context: NodeContext
    let job: Int64
    let attempt: Int
    let queueStream: String
    let entryID: String

    /// The `XADD` of an update, for `PendingSends` or a final pipeline.
    func command(_ event: JobEvent) -> RedisCommand {
        RedisClient.xaddCommand(context.keys.state, fields: StateUpdate(job: job, event: event, worker: context.settings.nodeID).fields)
    }

    func receivedEvent(at: Int64) -> JobEvent { JobEvent(kind: .received, attempt: attempt, seq: Self.receivedSeq, at: at) }
    func startedEvent(at: Int64) -> JobEvent { JobEvent(kind: .started, attempt: attempt, seq: Self.startedSeq, at: at) }

    /// `before` (held updates, the log's last parts), the final update, then the queue entry's ack, in
    /// one pipeline: Redis runs them in that order. Retried whole: every part of it is idempotent. It
    /// carries the end of the log, so it is retried until Redis takes it or the worker stops (a Redis
    /// outage at the end of a job loses no log; see docs/runbook.md).
    func finalPipeline(_ before: [RedisCommand], final event: JobEvent) async throws {
        let commands = before + [command(event), ["XACK", RedisArgument(queueStream), RedisArgument(Groups.workers), RedisArgument(entryID)]]
        try await retrying(event.kind.rawValue, .untilCancelled(atLeast: 5)) {
            try await context.redis.pipeline(commands).throwingFirstError()
        }
    }

    /// Sends held updates on their own, retried until Redis takes them or the task is cancelled
    /// (`PendingSends` then puts them in the final pipeline); false if they were not sent.
    func sendHeld(_ commands: [RedisCommand]) async -> Bool {
        do {
            try await retrying("state", .untilCancelled(atLeast: 1)) {
                try await context.redis.pipeline(commands).throwingFirstError()
            }
            return true
        } catch {
            return false
        }
    }

    /// Sends held updates on their own (a retried pipeline).
    func sendAll(_ commands: [RedisCommand]) async {
        do {
            try await retrying("state") {
                try await context.redis.pipeline(commands).throwingFirstError()
            }
        } catch {
            context.logger.warning("could not report state", metadata: ["job": "\(job)", "error": "\(error)"])
        }
    }

    func resetEvent(reason: String) -> JobEvent {
        JobEvent(kind: .reset, attempt: attempt, seq: Self.finalSeq, at: nowMillis(), reason: reason)
    }

    func finished(_ result: JobState, reason: String?, receivedAt: Int64?, startedAt: Int64?) async throws {
        try await send(finishedEvent(result, reason: reason, receivedAt: receivedAt, startedAt: startedAt))
    }

    func finishedEvent(_ result: JobState, reason: String?, receivedAt: Int64?, startedAt: Int64?) -> JobEvent {
        JobEvent(kind: .finished, attempt: attempt, seq: Self.finalSeq, at: nowMillis(), result: result,
                 reason: reason, receivedAt: receivedAt, startedAt: startedAt)
    }

    func reset(reason: String) async throws {
        try await send(JobEvent(kind: .reset, attempt: attempt, seq: Self.finalSeq, at: nowMillis(), reason: reason))
    }

    func acknowledge() async throws {
        try await retrying("ack") { try await context.redis.xack(queueStream, group: Groups.workers, ids: [entryID]) }
    }

    private func send(_ event: JobEvent) async throws {
        let update = StateUpdate(job: job, event: event, worker: context.settings.nodeID)
        try await retrying(event.kind.rawValue) { try await context.redis.xadd(context.keys.state, fields: update.fields) }
    }

    /// Five tries by default, `Retrying`'s backoff between them.
    private func retrying(_ what: String, _ limit: Retrying.Limit = .tries(5), _ body: () async throws -> Void) async throws {
        try await Retrying("sending \(what)", logger: context.logger, metadata: ["job": "\(job)"], limit: limit).run(body)
    }
}
