import ConveyorModel
import Metrics

/// The hub's metrics. Labels stay low-cardinality: states and kinds, never job or build ids.
enum HubMetrics {
    /// A job reached a final state: its duration, queue wait (queued → started) and boot time
    /// (received → started), where both ends are known.
    static func jobFinished(_ record: JobRecord) {
        Counter(label: "conveyor_jobs_finished_total", dimensions: [("state", record.state.rawValue)]).increment()
        if let started = record.startedAt, let finished = record.finishedAt, finished >= started {
            Metrics.Timer(label: "conveyor_job_duration_seconds").recordMilliseconds(finished - started)
        }
        if let queued = record.queuedAt, let started = record.startedAt, started >= queued {
            Metrics.Timer(label: "conveyor_job_queue_wait_seconds").recordMilliseconds(started - queued)
        }
        if let received = record.receivedAt, let started = record.startedAt, started >= received {
            Metrics.Timer(label: "conveyor_job_boot_seconds").recordMilliseconds(started - received)
        }
    }

    static func buildFinished(_ state: BuildState) {
        Counter(label: "conveyor_builds_finished_total", dimensions: [("state", state.rawValue)]).increment()
    }

    /// `outcome`: delivered, retry or failed.
    static func notification(kind: String, outcome: String) {
        Counter(label: "conveyor_notifications_total", dimensions: [("kind", kind), ("outcome", outcome)]).increment()
    }
}

/// What a transaction observed, recorded once it has committed (a retried transaction must not count twice).
struct HubObservations: Sendable {
    var finishedJobs: [JobRecord] = []
    var finishedBuilds: [BuildState] = []

    func record() {
        finishedJobs.forEach(HubMetrics.jobFinished)
        finishedBuilds.forEach(HubMetrics.buildFinished)
    }
}
