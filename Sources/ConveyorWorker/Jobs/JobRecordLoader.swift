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
        SELECT j.state, j.attempt, j.config::text AS config, b.sha, b.branch, r.url,
               r.hard_timeout_seconds, r.no_output_timeout_seconds, r.max_log_bytes
        FROM jobs j JOIN builds b ON b.id = j.build_id JOIN repositories r ON r.id = j.repository_id
        WHERE j.id = $1
        """

    /// The job, or nil when it does not exist (deleted with its build).
    static func load(_ id: Int64, context: NodeContext) async throws -> ClaimedJob? {
        guard let row = try await context.postgres.query(sql, id).rows.first else { return nil }
        let stateName = try row.decode("state", as: String.self)
        guard let state = JobState(rawValue: stateName) else { throw WorkerError("job \(id): unknown state \(stateName)") }
        let config = try row.decode("config", as: String.self)
        let spec: JobSpec
        do {
            spec = try JSONDecoder().decode(JobSpec.self, from: Data(config.utf8))
        } catch {
            throw WorkerError("job \(id): config is not a JobSpec: \(error)")
        }
        let settings = context.settings
        let checkout = CheckoutSpec(repoURL: try row.decode("url", as: String.self), sha: try row.decode("sha", as: String.self),
                                    branch: row["branch"].string, depth: spec.gitDepth)
        return ClaimedJob(
            id: id, state: state, attempt: try row.decode("attempt", as: Int.self), spec: spec, checkout: checkout,
            hardTimeout: .seconds(row["hard_timeout_seconds"].double ?? settings.hardTimeoutSeconds),
            noOutputTimeout: .seconds(row["no_output_timeout_seconds"].double ?? settings.noOutputTimeoutSeconds),
            maxLogBytes: row["max_log_bytes"].int ?? settings.maxLogBytes)
    }
}
