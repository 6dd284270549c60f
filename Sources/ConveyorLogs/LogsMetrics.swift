import Metrics

/// The logs role's counters (no per-job labels: a label per job would grow without bound).
struct LogsMetrics: Sendable {
    let partsIngested = Counter(label: "conveyor_log_parts_ingested_total")
    let bytesIngested = Counter(label: "conveyor_log_bytes_ingested_total")
    let partsDuplicate = Counter(label: "conveyor_log_parts_duplicate_total")
    let partsDropped = Counter(label: "conveyor_log_parts_dropped_total")
    let partsMalformed = Counter(label: "conveyor_log_parts_malformed_total")
    let aggregated = Counter(label: "conveyor_logs_aggregated_total")
    let archived = Counter(label: "conveyor_logs_archived_total")
    let purged = Counter(label: "conveyor_logs_purged_total")
    let archiveErrors = Counter(label: "conveyor_log_archive_errors_total")
}
