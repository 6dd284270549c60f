/// Runs one build script somewhere (a sandbox on this host, a host over SSH, a VM) and reports how it
/// ended.
///
/// Cancellation is the stop signal: when the calling task is cancelled, an executor stops the script
/// (SIGTERM to its process group, SIGKILL after `ExecutionJob.killGrace`), waits until it is gone and
/// its output delivered, and then returns normally. Errors mean the infrastructure failed (the job is
/// reset and runs again), never that the script failed.
public protocol Executor: Sendable {
    /// A short name for logs and the job header ("local (bwrap)", "ssh build@host").
    var name: String { get }

    /// Runs `job.script`. Calls `started` once, right before the script begins (after any VM boot), and
    /// `output` with stdout and stderr merged, in order, from any thread.
    func run(_ job: ExecutionJob, started: @escaping @Sendable () async -> Void,
             output: @escaping @Sendable ([UInt8]) -> Void) async throws -> ExecutionOutcome
}

extension Executor {
    /// Whether `ExecutionJob.files` are placed and taken (what the build cache needs, docs/cache.md).
    public var movesFiles: Bool { self is LocalExecutor || self is SSHExecutor || self is LibvirtExecutor }
}

/// What an executor needs to know of a job.
public struct ExecutionJob: Sendable {
    public var id: Int64
    public var attempt: Int
    public var script: String
    /// Extra environment for the script (CI=true, CONVEYOR_JOB_ID…).
    public var environment: [String: String]
    /// Readable paths the sandbox must expose (a `file://` repository).
    public var readOnlyPaths: [String]
    public var killGrace: Duration
    /// Memory, processes, CPUs and disk the job may use (the local executor enforces them).
    public var limits: JobLimits
    /// Files placed in the job's directory before the script and taken from it after (the local
    /// executor only; docs/cache.md).
    public var files: JobFiles

    public init(id: Int64, attempt: Int, script: String, environment: [String: String] = [:],
                readOnlyPaths: [String] = [], killGrace: Duration = .seconds(1), limits: JobLimits = JobLimits(), files: JobFiles = JobFiles()) {
        self.files = files
        self.id = id
        self.attempt = attempt
        self.script = script
        self.environment = environment
        self.readOnlyPaths = readOnlyPaths
        self.killGrace = killGrace
        self.limits = limits
    }
}

/// How a script ended.
public enum ExecutionOutcome: Sendable, Equatable {
    case exited(Int32)
    case signaled(Int32)
    /// The job ran into one of its limits (it is failed, whatever the script's status).
    case limitExceeded(LimitHit)

    /// Build script convention: 0 passed, 1 failed, anything else errored.
    public var exitDescription: String {
        switch self {
        case .exited(let code): "exited with \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        case .limitExceeded(let hit): "exceeded its \(hit.message)"
        }
    }
}

/// The executor could not do its part: the job is reset with `reason` and runs again.
public struct ExecutorError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var message: String

    public init(reason: String = "executor_failed", _ message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(reason): \(message)" }
}
