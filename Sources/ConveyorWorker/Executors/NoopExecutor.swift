/// Runs nothing: one log line and passed, after `sleepMilliseconds` (`noop_executor_sleep_ms`) so a
/// benchmark can give jobs a length. For benchmarks of everything around the script.
public struct NoopExecutor: Executor {
    let sleepMilliseconds: Int

    public init(sleepMilliseconds: Int = 0) {
        self.sleepMilliseconds = sleepMilliseconds
    }

    public var name: String { "noop" }

    public func run(_ job: ExecutionJob, started: @escaping @Sendable () async -> Void,
                    output: @escaping @Sendable ([UInt8]) -> Void) async throws -> ExecutionOutcome {
        await started()
        if sleepMilliseconds > 0 { try await Task.sleep(for: .milliseconds(sleepMilliseconds)) }
        output(Array("noop executor: job \(job.id) attempt \(job.attempt) passed without running\n".utf8))
        return .exited(0)
    }
}
