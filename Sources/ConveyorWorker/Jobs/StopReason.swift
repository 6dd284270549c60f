import Foundation
import Synchronization

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
final class JobHandle: Sendable {
    private struct State {
        /// The first stop asked for; later ones don't replace it.
        var stopRequest: StopReason?
        var startedAt: (instant: ContinuousClock.Instant, millis: Int64)?
    }

    private let state = Mutex(State())

    let job: Int64

    init(job: Int64) {
        self.job = job
    }

    func requestStop(_ reason: StopReason) {
        state.withLock { state in
            if state.stopRequest == nil { state.stopRequest = reason }
        }
    }

    var stopRequest: StopReason? { state.withLock { $0.stopRequest } }

    func markStarted(at millis: Int64) {
        state.withLock { $0.startedAt = (.now, millis) }
    }

    var startedAt: (instant: ContinuousClock.Instant, millis: Int64)? { state.withLock { $0.startedAt } }
}
