import Foundation

/// Why the worker stopped a running script before it ended by itself.
enum StopReason: Sendable, Equatable {
    /// `cv:job:<id>:cancel` was set.
    case canceled
    case hardTimeout(Duration)
    case noOutput(Duration)
    case logLimit(Int)
    /// Renewal failed: the attempt belongs to someone else now. Nothing more is sent for it.
    case leaseLost
    /// The node is shutting down and the drain grace ran out: the job is reset to run elsewhere.
    case shutdown
}

/// The running job as the service sees it: a stop request from outside (drain), and when it started.
final class JobHandle: @unchecked Sendable {
    // @unchecked Sendable: both fields are only touched with `lock` held.
    private let lock = NSLock()
    private var _stopRequest: StopReason?
    private var _startedAt: (instant: ContinuousClock.Instant, millis: Int64)?

    let job: Int64

    init(job: Int64) {
        self.job = job
    }

    func requestStop(_ reason: StopReason) {
        lock.withLock { if _stopRequest == nil { _stopRequest = reason } }
    }

    var stopRequest: StopReason? { lock.withLock { _stopRequest } }

    func markStarted(at millis: Int64) {
        lock.withLock { _startedAt = (.now, millis) }
    }

    var startedAt: (instant: ContinuousClock.Instant, millis: Int64)? { lock.withLock { _startedAt } }
}
