/// Runs nothing: one log line and passed. For benchmarks of everything around the script.
public struct NoopExecutor: Executor {
    public init() {}

    public var name: String { "noop" }

    public func run(_ job: ExecutionJob, started: @escaping @Sendable () async -> Void,
                    output: @escaping @Sendable ([UInt8]) -> Void) async throws -> ExecutionOutcome {
        await started()
        output(Array("noop executor: job \(job.id) attempt \(job.attempt) passed without running\n".utf8))
        return .exited(0)
    }
}
