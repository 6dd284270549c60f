import ConveyorCore
import ConveyorModel
import ConveyorPostgres
import ConveyorSecrets
import Foundation
import Synchronization

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
    /// The build's facts for the job's `TRAVIS_*` environment.
    var facts: BuildFacts
    /// The config's warnings, shown at the top of the log.
    var configWarnings: [String] = []
    /// The node's job limits with the repository's own over them.
    var limits: JobLimits
    var repositoryID: Int64 = 0
    /// The repository's default branch as its webhook payload names it; nil when unknown.
    var defaultBranch: String?

    /// travis-build's environment for this job (see `BuildEnvironment`).
    var builtinEnv: [EnvVar] { BuildEnvironment.variables(job: spec, facts: facts) }
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
    /// The request's webhook payload is stored as received: a pull request's head and mergeability, and a
    /// push's previous commit, are read from it.
    static let sql = """
        SELECT j.id, j.state, j.attempt, j.number AS job_number, j.config::text AS config, b.id AS build_id, b.number AS build_number,
               b.sha, b.branch, b.tag, b.event_type, b.commit_message, r.url, r.slug, r.id AS repository_id, k.private_key_sealed,
               r.hard_timeout_seconds, r.no_output_timeout_seconds, r.max_log_bytes,
               r.job_memory_limit, r.job_pids_limit, r.job_cpu_limit, r.job_disk_limit,
               q.pull_request, q.warnings::text AS warnings, q.payload->>'before' AS push_before,
               q.payload->'pull_request'->'head'->>'ref' AS head_branch, q.payload->'pull_request'->'head'->>'sha' AS head_sha,
               q.payload->'pull_request'->'head'->'repo'->>'full_name' AS head_repo,
               q.payload->'pull_request'->'base'->>'sha' AS base_sha, q.payload->'pull_request'->>'mergeable' AS mergeable,
               q.payload->'repository'->>'default_branch' AS default_branch
        FROM jobs j JOIN builds b ON b.id = j.build_id JOIN repositories r ON r.id = j.repository_id
             JOIN requests q ON q.id = b.request_id
             LEFT JOIN repository_keys k ON k.repository_id = r.id
        WHERE j.id = ANY($1::bigint[])
        """

    /// Several jobs with one statement; a job that does not exist is absent, one whose row cannot
    /// be read is a failure of its own.
    static func loadMany(_ ids: [Int64], context: NodeContext, keyring: Keyring) async throws -> [Int64: Result<ClaimedJob, WorkerError>] {
        var jobs: [Int64: Result<ClaimedJob, WorkerError>] = [:]
        for row in try await context.postgres.read(sql, [.array(ids)]).rows {
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
        let sha = try row.decode("sha", as: String.self)
        let eventType = try row.decode("event_type", as: String.self)
        let pullRequest = eventType == "pull_request" ? row["pull_request"].int : nil
        let checkout = CheckoutSpec(repoURL: try row.decode("url", as: String.self), sha: sha,
                                    branch: row["branch"].string, depth: spec.gitDepth, pullRequest: pullRequest,
                                    mergeable: row["mergeable"].string.map { $0 == "true" }, git: spec.git ?? GitOptions())
        let slug = try row.decode("slug", as: String.self)
        let facts = BuildFacts(
            repoSlug: slug, buildID: try row.decode("build_id"), buildNumber: try row.decode("build_number"), jobID: id,
            jobNumber: try row.decode("job_number"), eventType: eventType, branch: row["branch"].string ?? "",
            tag: row["tag"].string, commit: sha, commitMessage: row["commit_message"].string ?? "",
            previousCommit: pullRequest == nil ? row["push_before"].string : row["base_sha"].string,
            pullRequest: pullRequest, pullRequestBranch: row["head_branch"].string, pullRequestSha: row["head_sha"].string ?? sha,
            pullRequestSlug: row["head_repo"].string ?? slug, webURL: settings.publicURL)
        let warnings = row["warnings"].string.flatMap { try? JSONDecoder().decode([String].self, from: Data($0.utf8)) } ?? []
        return ClaimedJob(
            id: id, state: state, attempt: try row.decode("attempt", as: Int.self), spec: spec, checkout: checkout,
            hardTimeout: .seconds(row["hard_timeout_seconds"].double ?? settings.hardTimeoutSeconds),
            noOutputTimeout: .seconds(row["no_output_timeout_seconds"].double ?? settings.noOutputTimeoutSeconds),
            maxLogBytes: row["max_log_bytes"].int ?? settings.maxLogBytes, facts: facts, configWarnings: warnings,
            limits: JobLimits.defaults(settings).overridden(memory: row["job_memory_limit"].string, pids: row["job_pids_limit"].int,
                                                            cpus: row["job_cpu_limit"].double, disk: row["job_disk_limit"].string),
            repositoryID: repository, defaultBranch: row["default_branch"].string,
            notices: (spec.secretsWithheld.map { [$0] } ?? []) + opened.notices)
    }
}

/// Coalesces the job reads of jobs claimed at about the same time: while one read is in flight,
/// the ids asked for meanwhile wait and go out together in the next one (`WHERE id = ANY(…)`), so a
/// busy worker reads many jobs per statement and an idle one adds no delay.
final class JobLoader: Sendable {
    private typealias Waiting = [Int64: [CheckedContinuation<ClaimedJob?, any Error>]]

    private enum State {
        case idle
        /// A read is in flight; these ids go out in the next one.
        case reading(next: Waiting)
    }

    private let state = Mutex(State.idle)
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
            let start = state.withLock { state -> Bool in
                switch state {
                case .idle:
                    state = .reading(next: [id: [continuation]])
                    return true
                case .reading(var next):
                    state = .idle // no second reference: `next` grows in place
                    next[id, default: []].append(continuation)
                    state = .reading(next: next)
                    return false
                }
            }
            if start { Task { await self.readWhileAsked() } }
        }
    }

    private func readWhileAsked() async {
        while true {
            let batch = state.withLock { state -> Waiting in
                guard case .reading(let next) = state, !next.isEmpty else {
                    state = .idle
                    return [:]
                }
                state = .reading(next: [:])
                return next
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
