import Dispatch
import Metrics

/// The worker's metrics (no per-job labels).
struct WorkerMetrics: Sendable {
    let slots = Gauge(label: "conveyor_worker_slots")
    let busy = Gauge(label: "conveyor_worker_slots_busy")
    let claimToStart = Metrics.Timer(label: "conveyor_worker_claim_to_start_seconds")

    func finished(_ result: String) {
        Counter(label: "conveyor_worker_jobs_finished_total", dimensions: [("result", result)]).increment()
    }

    func claimToStart(since claimedAt: DispatchTime) {
        claimToStart.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - claimedAt.uptimeNanoseconds))
    }
}
