import ConveyorModel

/// How an attempt ends, as the worker reports it.
enum AttemptEnd: Equatable {
    /// `finished` with a result and reason; `trailer` closes the log.
    case finished(JobState, reason: String?, trailer: String)
    /// `reset`: the job runs again elsewhere.
    case reset(reason: String, trailer: String)
    /// The lease was lost: nothing more is sent.
    case abandoned

    static func decide(stop: StopReason?, outcome: Result<ExecutionOutcome, any Error>) -> AttemptEnd {
        switch stop {
        case .canceled?: return .finished(.canceled, reason: "canceled", trailer: "\n\nDone: Job Cancelled\n")
        case .hardTimeout(let limit)?:
            return .finished(.errored, reason: "hard_timeout", trailer: "\n\nThe job exceeded the maximum time limit for jobs, and has been terminated (limit: \(LogText.duration(limit))).\n")
        case .noOutput(let limit)?:
            return .finished(.errored, reason: "no_output_timeout", trailer: "\n\nNo output has been received in the last \(LogText.duration(limit)), this potentially indicates a stalled build or something wrong with the build itself.\nThe build has been terminated.\n")
        case .logLimit(let bytes)?:
            return .finished(.errored, reason: "log_limit", trailer: "\n\nThe log length has exceeded the limit of \(LogText.size(bytes)); the job was terminated.\n")
        case .leaseLost?: return .abandoned
        case .shutdown?: return .reset(reason: "worker_shutdown", trailer: "\n\nThe worker is shutting down; the job will be restarted on another worker.\n")
        case nil: break
        }
        switch outcome {
        case .failure(let error):
            let reason = (error as? ExecutorError)?.reason ?? "executor_failed"
            return .reset(reason: reason, trailer: "\n\nThe job could not be run (\(error)); it will be restarted.\n")
        case .success(.exited(0)): return .finished(.passed, reason: nil, trailer: "")
        case .success(.exited(1)): return .finished(.failed, reason: "script_failed", trailer: "")
        case .success(.exited(2)): return .finished(.errored, reason: "setup_failed", trailer: "")
        case .success(.exited(let code)):
            return .finished(.errored, reason: "exit_status_\(code)", trailer: "\n\nThe build script exited with \(code).\n")
        case .success(.limitExceeded(let hit)):
            return .finished(.failed, reason: "\(hit.limit)_limit", trailer: "\n\nThe job exceeded its \(hit.message); it was stopped.\n")
        case .success(.signaled(let signal)):
            return .finished(.errored, reason: "signal_\(signal)", trailer: "\n\nThe build script was killed by signal \(signal).\n")
        }
    }
}

enum LogText {
    /// Travis style: "10m0s", "50m0s", "3s", "1h0m0s".
    static func duration(_ duration: Duration) -> String {
        let total = Int(duration.components.seconds)
        let (hours, minutes, seconds) = (total / 3600, total % 3600 / 60, total % 60)
        if hours > 0 { return "\(hours)h\(minutes)m\(seconds)s" }
        if minutes > 0 { return "\(minutes)m\(seconds)s" }
        return "\(seconds)s"
    }

    /// "4 MiB", "64 KiB", "1000 bytes".
    static func size(_ bytes: Int) -> String {
        if bytes >= 1 << 20 && bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10 && bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }
}
