import ConveyorCore

/// One job's log written the way a worker writes it (`LogStream`: buffered, flushed every
/// `log_flush_ms` or `log_flush_bytes` as numbered parts onto `cv:logs`), for the live-log benchmark
/// in `conveyor-bench logs` (bench/logs/README.md).
public final class BenchmarkLogWriter: Sendable {
    let stream: LogStream

    public init(job: Int64, attempt: Int = 1, context: NodeContext, maxBytes: Int = 64 << 20) {
        stream = LogStream(job: job, attempt: attempt, context: context, secrets: [], maxBytes: maxBytes)
        stream.start()
    }

    /// What the job's script printed, as the executor hands it over.
    public func write(_ text: String) { stream.append(text) }

    /// Sends the rest and the final part.
    public func finish() async { await stream.finish(trailer: "") }
}
