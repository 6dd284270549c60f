/// The `# HELP` text of every metric a node serves: the "meaning" column of docs/metrics.md,
/// shortened. `promtool check metrics` (run by the ops suite) rejects a metric without one, and
/// `MetricHelpTests` checks this table against the docs and the metric labels in the sources.
public enum MetricHelp {
    public static let text: [String: String] = [
        "conveyor_builds_finished_total": "builds that finished (once per build, also with fast_finish)",
        "conveyor_cron_runs_total": "due crons this gatekeeper node ran",
        "conveyor_consumer_reclaimed_total": "entries of a dead consumer of that group taken over by a live consumer of the same group",
        "conveyor_http_request_duration_seconds": "time to produce each response (for SSE and WebSocket streams: until the stream opens)",
        "conveyor_http_requests_total": "HTTP requests served by the web role",
        "conveyor_job_boot_seconds": "received → started: sandbox or VM start and clone",
        "conveyor_job_duration_seconds": "job run time, started → finished",
        "conveyor_job_queue_wait_seconds": "queued → started: how long users wait for a worker",
        "conveyor_jobs": "jobs in each non-final state right now, from Postgres",
        "conveyor_jobs_finished_total": "jobs that reached a final state, counted once by the hub that recorded it: the authoritative count",
        "conveyor_log_archive_errors_total": "log archive uploads or verifications that failed",
        "conveyor_log_bytes_ingested_total": "bytes of the log parts stored by this logs node",
        "conveyor_log_parts_dropped_total": "log parts dropped by the logs role (past the log limit, or of an older attempt)",
        "conveyor_log_parts_duplicate_total": "log parts the logs role had already stored (redeliveries)",
        "conveyor_log_parts_ingested_total": "log parts stored by this logs node (duplicates not counted)",
        "conveyor_log_parts_malformed_total": "cv:logs entries the logs role could not read",
        "conveyor_logs_aggregated_total": "logs aggregated into one text after their final part",
        "conveyor_logs_archived_total": "logs uploaded to object storage and verified",
        "conveyor_logs_purged_total": "log parts purged from PostgreSQL after a verified archive",
        "conveyor_nodes_alive": "nodes with a heartbeat in the last 30 s (cv:nodes)",
        "conveyor_notifications_total": "notification deliveries the hub attempted",
        "conveyor_owner_limit": "the concurrency limit of those owners",
        "conveyor_owner_running": "jobs the owner has queued or running; the 20 owners with the most",
        "conveyor_owners_waiting": "owners with jobs waiting for a slot (SCARD cv:owners:waiting)",
        "conveyor_postgres_call_duration_seconds": "every Postgres query or transaction step this node ran",
        "conveyor_postgres_errors_total": "Postgres calls that failed",
        "conveyor_queue_depth": "jobs waiting in cv:queue:<queue> for a worker",
        "conveyor_queue_lag": "entries of the queue never delivered to the workers group (lag of XINFO GROUPS)",
        "conveyor_reaper_dead_lettered_total": "entries moved to cv:dead:<stream> after max_deliveries",
        "conveyor_reaper_reclaimed_total": "queue entries of workers silent past their lease: jobs of lost workers, which the reaper resets (reason worker_lost)",
        "conveyor_reaper_reconciliations_total": "repairs from comparing Postgres with Redis: jobs reset because their slot lease lapsed, slots of finished jobs released",
        "conveyor_redis_master_changes_total": "times this node saw the Sentinel master move",
        "conveyor_redis_repairs_total": "times this node rebuilt Redis from Postgres (epoch missing or behind, a master change, conveyor repair)",
        "conveyor_redis_call_duration_seconds": "every Redis command or pipeline this node sent, round trip",
        "conveyor_redis_errors_total": "Redis calls that failed (connection lost, timeout, OOM under noeviction, script error)",
        "conveyor_requests_total": "build requests the gatekeeper handled",
        "conveyor_scheduler_admitted_total": "jobs admitted (a slot taken, the job put in its queue)",
        "conveyor_scheduler_evaluations_total": "owner evaluations, on wake-ups and on the periodic sweep",
        "conveyor_stream_entries_total": "entries this node handled and acknowledged, per consumer group",
        "conveyor_stream_handler_duration_seconds": "time to handle one batch of entries read together, per consumer group (gatekeeper, scheduler, workers, hub, logs, notify); for hub the batch's transaction only: its Redis effects run while the next batch commits",
        "conveyor_stream_handler_errors_total": "handler failures (the entry stays pending and is retried, then dead-lettered)",
        "conveyor_stream_pending": "entries delivered to the group and not yet acknowledged (pending of XINFO GROUPS)",
        "conveyor_worker_claim_to_start_seconds": "a worker's claim of a queue entry → the job's script starting",
        "conveyor_worker_jobs_finished_total": "attempts a worker ran to the end, by the result the worker saw (per node; a reset attempt that runs again is counted again)",
        "conveyor_worker_log_bytes_sent_total": "bytes of the log parts a worker sent",
        "conveyor_worker_log_parts_sent_total": "log parts a worker sent to cv:logs",
        "conveyor_worker_slots": "slots of this worker node (CONVEYOR_WORKER_SLOTS)",
        "conveyor_worker_slots_busy": "slots running a job now",
    ]

    /// Inserts a `# HELP` line before each `# TYPE` line of Prometheus text whose metric has one.
    public static func annotate(_ exposition: String) -> String {
        var lines: [Substring] = []
        for line in exposition.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "), let name = line.dropFirst(7).split(separator: " ").first,
               let help = text[String(name)] {
                lines.append("# HELP \(name) \(help)")
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
