/// A job's lifecycle: created → queued → received → started → passed | failed | errored | canceled.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case created, queued, received, started, passed, failed, errored, canceled

    public var isFinal: Bool { rank == 4 }

    /// Order of progress; all final states share the top rank, so none replaces another.
    public var rank: Int {
        switch self {
        case .created: return 0
        case .queued: return 1
        case .received: return 2
        case .started: return 3
        case .passed, .failed, .errored, .canceled: return 4
        }
    }
}

/// What the hub keeps of a job's progress (one Postgres row).
public struct JobRecord: Sendable, Hashable {
    public var state: JobState
    public var attempt: Int
    /// Highest event sequence number applied in this attempt.
    public var lastSeq: Int
    /// Milliseconds since the epoch.
    public var queuedAt: Int64?
    public var receivedAt: Int64?
    public var startedAt: Int64?
    public var finishedAt: Int64?
    public var finishedReason: String?

    public init(state: JobState = .created, attempt: Int = 1, lastSeq: Int = 0, queuedAt: Int64? = nil,
                receivedAt: Int64? = nil, startedAt: Int64? = nil, finishedAt: Int64? = nil,
                finishedReason: String? = nil) {
        self.state = state
        self.attempt = attempt
        self.lastSeq = lastSeq
        self.queuedAt = queuedAt
        self.receivedAt = receivedAt
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.finishedReason = finishedReason
    }
}

public enum JobEventKind: String, Sendable, Codable {
    /// From the scheduler.
    case queued
    /// From the worker.
    case received, started, finished
    /// Infrastructure failure: run the job again (a new attempt), up to the maximum.
    case reset
    /// From a user.
    case cancel, restart
}

public struct JobEvent: Sendable, Codable, Hashable {
    public var kind: JobEventKind
    public var attempt: Int
    public var seq: Int
    /// Milliseconds since the epoch.
    public var at: Int64
    /// For `finished`: passed | failed | errored | canceled.
    public var result: JobState?
    public var reason: String?
    /// `finished` may carry these to fill gaps left by lost events.
    public var receivedAt: Int64?
    public var startedAt: Int64?

    public init(kind: JobEventKind, attempt: Int, seq: Int, at: Int64, result: JobState? = nil,
                reason: String? = nil, receivedAt: Int64? = nil, startedAt: Int64? = nil) {
        self.kind = kind
        self.attempt = attempt
        self.seq = seq
        self.at = at
        self.result = result
        self.reason = reason
        self.receivedAt = receivedAt
        self.startedAt = startedAt
    }
}

public enum JobTransitionOutcome: Sendable, Equatable {
    case applied(JobRecord)
    /// Why the event changed nothing, e.g. "stale attempt 1 < 2", "seq 3 ≤ 5", "job already passed".
    case ignored(String)
}
