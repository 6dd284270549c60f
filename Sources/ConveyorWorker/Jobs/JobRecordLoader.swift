import ConveyorCore
import ConveyorModel
import ConveyorPostgres
import ConveyorSecrets
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
    /// Lines for the top of the log: secrets withheld or left out, and why (never a value).
    var notices: [String] = []

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
        SELECT j.id, j.state, j.attempt, j.config::text AS config, b.sha, b.branch, r.url, r.id AS repository_id,
               r.hard_timeout_seconds, r.no_output_timeout_seconds, r.max_log_bytes, k.private_key_sealed
        FROM jobs j JOIN builds b ON b.id = j.build_id JOIN repositories r ON r.id = j.repository_id
        LEFT JOIN repository_keys k ON k.repository_id = r.id
        WHERE j.id = ANY($1::bigint[])
        """

    /// Several jobs with one statement; a job that does not exist is absent, one whose row cannot
    /// be read is a failure of its own.
    static func loadMany(_ ids: [Int64], context: NodeContext, keyring: Keyring) async throws -> [Int64: Result<ClaimedJob, WorkerError>] {
        var jobs: [Int64: Result<ClaimedJob, WorkerError>] = [:]
        for row in try await context.postgres.query(sql, [.array(ids)]).rows {
            let id: Int64 = try row.decode("id")
            jobs[id] = Result { try decode(row, id: id, settings: context.settings, keyring: keyring) }
                .mapError { $0 as? WorkerError ?? WorkerError("job \(id): \($0)") }
        }
        return jobs
    }

    private static func decode(_ row: PostgresRow, id: Int64, settings: Settings, keyring: Keyring) throws -> ClaimedJob {
        let stateName = try row.decode("state", as: String.self)
        guard let state = JobState(rawValue: stateName) else { throw WorkerError("job \(id): unknown state \(stateName)") }
        let config = try row.decode("config", as: String.self)
        var spec: JobSpec
        do {
            spec = try JSONDecoder().decode(JobSpec.self, from: Data(config.utf8))
        } catch {
            throw WorkerError("job \(id): config is not a JobSpec: \(error)")
        }
        let repository: Int64 = try row.decode("repository_id")
        let opened = JobSecretsOpener(repository: repository, sealedPrivateKey: row["private_key_sealed"].string, keyring: keyring).open(spec)
        spec.env = opened.env
        let checkout = CheckoutSpec(repoURL: try row.decode("url", as: String.self), sha: try row.decode("sha", as: String.self),
                                    branch: row["branch"].string, depth: spec.gitDepth)
        return ClaimedJob(
            id: id, state: state, attempt: try row.decode("attempt", as: Int.self), spec: spec, checkout: checkout,
            hardTimeout: .seconds(row["hard_timeout_seconds"].double ?? settings.hardTimeoutSeconds),
            noOutputTimeout: .seconds(row["no_output_timeout_seconds"].double ?? settings.noOutputTimeoutSeconds),
            maxLogBytes: row["max_log_bytes"].int ?? settings.maxLogBytes,
            notices: (spec.secretsWithheld.map { [$0] } ?? []) + opened.notices)
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
    private let keyring: Keyring

    init(context: NodeContext) {
        self.context = context
        do {
            keyring = try Keyring.from(context.settings)
        } catch {
            // The node stays up; jobs with secure values run without them and their logs say why.
            context.logger.error("secrets are unavailable on this worker", metadata: ["error": "\(error)"])
            keyring = Keyring(current: nil)
        }
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
                let jobs = try await JobRecordLoader.loadMany(Array(batch.keys), context: context, keyring: keyring)
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
