import ConveyorCore
import ConveyorModel
import ConveyorPostgres
import Foundation

/// What a worker reads from Postgres about a claimed job.
struct ClaimedJob: Sendable {
    var id: Int64
    var state: JobState
    var attempt: Int
    var spec: JobSpec
    var checkout: CheckoutSpec
    var hardTimeout: Duration
    var noOutputTimeout: Duration
    var maxLogBytes: Int
    /// The node's job limits with the repository's own over them.
    var limits: JobLimits

    /// Secure env values, masked in the log.
    var secrets: [String] { spec.env.filter(\.secure).map(\.value) }

    /// A local repository (`file://…`) must be visible inside the sandbox.
    var readOnlyPaths: [String] {
        guard let url = URL(string: checkout.repoURL), url.isFileURL else { return [] }
        return [url.path]
    }
}

enum JobRecordLoader {
    static let sql = """
        SELECT j.id, j.state, j.attempt, j.config::text AS config, b.sha, b.branch, r.url,
               r.hard_timeout_seconds, r.no_output_timeout_seconds, r.max_log_bytes,
               r.job_memory_limit, r.job_pids_limit, r.job_cpu_limit, r.job_disk_limit
        FROM jobs j JOIN builds b ON b.id = j.build_id JOIN repositories r ON r.id = j.repository_id
        WHERE j.id = ANY($1::bigint[])
        """

    /// Several jobs with one statement; a job that does not exist is absent, one whose row cannot
    /// be read is a failure of its own.
    static func loadMany(_ ids: [Int64], context: NodeContext) async throws -> [Int64: Result<ClaimedJob, WorkerError>] {
        var jobs: [Int64: Result<ClaimedJob, WorkerError>] = [:]
        for row in try await context.postgres.query(sql, [.array(ids)]).rows {
            let id: Int64 = try row.decode("id")
            jobs[id] = Result { try decode(row, id: id, settings: context.settings) }.mapError { $0 as? WorkerError ?? WorkerError("job \(id): \($0)") }
        }
        return jobs
    }

    private static func decode(_ row: PostgresRow, id: Int64, settings: Settings) throws -> ClaimedJob {
        let stateName = try row.decode("state", as: String.self)
        guard let state = JobState(rawValue: stateName) else { throw WorkerError("job \(id): unknown state \(stateName)") }
        let config = try row.decode("config", as: String.self)
        let spec: JobSpec
        do {
            spec = try JSONDecoder().decode(JobSpec.self, from: Data(config.utf8))
        } catch {
            throw WorkerError("job \(id): config is not a JobSpec: \(error)")
        }
        let checkout = CheckoutSpec(repoURL: try row.decode("url", as: String.self), sha: try row.decode("sha", as: String.self),
                                    branch: row["branch"].string, depth: spec.gitDepth)
        return ClaimedJob(
            id: id, state: state, attempt: try row.decode("attempt", as: Int.self), spec: spec, checkout: checkout,
            hardTimeout: .seconds(row["hard_timeout_seconds"].double ?? settings.hardTimeoutSeconds),
            noOutputTimeout: .seconds(row["no_output_timeout_seconds"].double ?? settings.noOutputTimeoutSeconds),
            maxLogBytes: row["max_log_bytes"].int ?? settings.maxLogBytes,
            limits: JobLimits.defaults(settings).overridden(memory: row["job_memory_limit"].string, pids: row["job_pids_limit"].int,
                                                            cpus: row["job_cpu_limit"].double, disk: row["job_disk_limit"].string))
    }
}

/// Coalesces the job reads of jobs claimed at about the same time: while one read is in flight,
/// the ids asked for meanwhile wait and go out together in the next one (`WHERE id = ANY(…)`), so a
/// busy worker reads many jobs per statement and an idle one adds no delay.
final class JobLoader: @unchecked Sendable {
    // @unchecked Sendable: `waiting` and `reading` are only touched with `lock` held.
    private let lock = NSLock()
    private var waiting: [Int64: [CheckedContinuation<ClaimedJob?, any Error>]] = [:]
    private var reading = false
    private let context: NodeContext

    init(context: NodeContext) {
        self.context = context
    }

    func load(_ id: Int64) async throws -> ClaimedJob? {
        try await withCheckedThrowingContinuation { continuation in
            let start = lock.withLock { () -> Bool in
                waiting[id, default: []].append(continuation)
                if reading { return false }
                reading = true
                return true
            }
            if start { Task { await self.readWhileAsked() } }
        }
    }

    private func readWhileAsked() async {
        while true {
            let batch = lock.withLock { () -> [Int64: [CheckedContinuation<ClaimedJob?, any Error>]] in
                defer { waiting = [:] }
                if waiting.isEmpty { reading = false }
                return waiting
            }
            if batch.isEmpty { return }
            do {
                let jobs = try await JobRecordLoader.loadMany(Array(batch.keys), context: context)
                for (id, continuations) in batch {
                    let result: Result<ClaimedJob?, any Error> = jobs[id].map { $0.map(Optional.some).mapError { $0 } } ?? .success(nil)
                    for continuation in continuations { continuation.resume(with: result) }
                }
            } catch {
                for continuations in batch.values { for continuation in continuations { continuation.resume(throwing: error) } }
            }
        }
    }
}
