import ConveyorCore
import ConveyorModel
import ConveyorRedis
import Logging

/// Sends one attempt's state updates to `cv:state` and acknowledges its queue entry.
///
/// Sequence numbers are fixed per kind: received 1, started 2, finished (or reset) 3. Every send is
/// retried a few times: a lost `finished` would leave the job to the reaper.
struct StateReporter: Sendable {
    static let receivedSeq = 1
    static let startedSeq = 2
    static let finalSeq = 3

    let context: NodeContext
    let job: Int64
    let attempt: Int
    let queueStream: String
    let entryID: String

    func received(at: Int64) async throws {
        try await send(JobEvent(kind: .received, attempt: attempt, seq: Self.receivedSeq, at: at))
    }

    func started(at: Int64) async throws {
        try await send(JobEvent(kind: .started, attempt: attempt, seq: Self.startedSeq, at: at))
    }

    func finished(_ result: JobState, reason: String?, receivedAt: Int64?, startedAt: Int64?) async throws {
        try await send(finishedEvent(result, reason: reason, receivedAt: receivedAt, startedAt: startedAt))
    }

    /// `finished`, then the queue entry's ack, in one pipeline (Redis runs them in that order).
    func finishedAndAcknowledged(_ result: JobState, reason: String?, receivedAt: Int64?, startedAt: Int64?) async throws {
        let update = StateUpdate(job: job, event: finishedEvent(result, reason: reason, receivedAt: receivedAt, startedAt: startedAt),
                                 worker: context.settings.nodeID)
        try await retrying("finished") {
            let replies = try await context.redis.pipeline([
                RedisClient.xaddCommand(context.keys.state, fields: update.fields),
                ["XACK", RedisArgument(queueStream), RedisArgument(Groups.workers), RedisArgument(entryID)],
            ])
            for case .error(let message) in replies { throw RedisError.server(message) }
        }
    }

    private func finishedEvent(_ result: JobState, reason: String?, receivedAt: Int64?, startedAt: Int64?) -> JobEvent {
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

    private func retrying(_ what: String, _ body: () async throws -> Void) async throws {
        var failure: (any Error)?
        for attempt in 1...5 {
            do {
                try await body()
                return
            } catch {
                failure = error
                context.logger.warning("sending \(what) failed; retrying", metadata: ["job": "\(job)", "try": "\(attempt)", "error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
        throw failure ?? WorkerError("sending \(what) failed")
    }
}
