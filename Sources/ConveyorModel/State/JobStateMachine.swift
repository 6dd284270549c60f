/// Applies job events to a job record. Pure: the hub calls it inside a row lock and stores the result.
///
/// Worker events of another attempt, and events with `seq ≤ lastSeq`, are ignored. State only moves
/// forward; an event that arrives late (e.g. `started` after `finished`) still fills its own timestamp,
/// so out-of-order delivery converges to the same record. Final states are absorbing.
public enum JobStateMachine {
    public static func apply(_ event: JobEvent, to record: JobRecord, maxAttempts: Int) -> JobTransitionOutcome {
        switch event.kind {
        case .queued, .received, .started, .finished:
            return applyProgress(event, to: record)
        case .reset:
            return applyReset(event, to: record, maxAttempts: maxAttempts)
        case .cancel:
            guard !record.state.isFinal else { return .ignored("job already \(record.state.rawValue)") }
            var next = record
            next.state = .canceled
            next.finishedAt = event.at
            next.finishedReason = event.reason ?? "canceled"
            return .applied(next)
        case .restart:
            guard record.state.isFinal else { return .ignored("job is \(record.state.rawValue), not finished") }
            return .applied(newAttempt(after: record))
        }
    }

    private static func applyProgress(_ event: JobEvent, to record: JobRecord) -> JobTransitionOutcome {
        if event.attempt < record.attempt { return .ignored("stale attempt \(event.attempt) < \(record.attempt)") }
        if event.attempt > record.attempt { return .ignored("future attempt \(event.attempt) > \(record.attempt)") }
        // The scheduler's `queued` may carry seq 0; worker events must be newer than the last one applied.
        let sequenced = event.kind != .queued || event.seq > 0
        if sequenced && event.seq <= record.lastSeq {
            return .ignored(event.seq == record.lastSeq ? "duplicate" : "seq \(event.seq) ≤ \(record.lastSeq)")
        }
        guard let target = targetState(of: event) else { return .ignored("finished without a final result") }
        if record.state.isFinal && target.isFinal {
            return .ignored("job already \(record.state.rawValue)")
        }
        var next = record
        next.lastSeq = max(record.lastSeq, event.seq)
        switch event.kind {
        case .queued: next.queuedAt = next.queuedAt ?? event.at
        case .received: next.receivedAt = next.receivedAt ?? event.at
        case .started:
            next.startedAt = next.startedAt ?? event.at
            next.receivedAt = next.receivedAt ?? event.receivedAt
        default:
            next.receivedAt = next.receivedAt ?? event.receivedAt
            next.startedAt = next.startedAt ?? event.startedAt
            next.finishedAt = next.finishedAt ?? event.at
            next.finishedReason = next.finishedReason ?? event.reason
        }
        if target.rank > record.state.rank { next.state = target }
        return next == record ? .ignored("no change") : .applied(next)
    }

    private static func targetState(of event: JobEvent) -> JobState? {
        switch event.kind {
        case .queued: return .queued
        case .received: return .received
        case .started: return .started
        default:
            guard let result = event.result, result.isFinal else { return nil }
            return result
        }
    }

    private static func applyReset(_ event: JobEvent, to record: JobRecord, maxAttempts: Int) -> JobTransitionOutcome {
        if event.attempt != record.attempt { return .ignored("stale attempt \(event.attempt) ≠ \(record.attempt)") }
        guard !record.state.isFinal else { return .ignored("job already \(record.state.rawValue)") }
        let reason = event.reason ?? "reset"
        if record.attempt + 1 > maxAttempts {
            var next = record
            next.state = .errored
            next.finishedAt = event.at
            next.finishedReason = "\(reason): gave up after \(record.attempt) attempts"
            return .applied(next)
        }
        return .applied(newAttempt(after: record))
    }

    private static func newAttempt(after record: JobRecord) -> JobRecord {
        JobRecord(state: .created, attempt: record.attempt + 1, lastSeq: 0)
    }
}
