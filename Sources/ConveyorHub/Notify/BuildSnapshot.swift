import ConveyorPostgres

/// A build with its repository and jobs, as notifications describe it.
struct BuildSnapshot: Sendable {
    struct Job: Sendable {
        var id: Int64
        var number: String
        var state: String
        var allowFailure: Bool
        var stage: String?
        var queue: String
        var startedMillis: Int64?
        var finishedMillis: Int64?
    }

    var id: Int64
    var number: Int
    var state: String
    var run: Int
    var eventType: String
    var branch: String
    var sha: String
    var tag: String?
    var message: String
    var startedMillis: Int64?
    var finishedMillis: Int64?
    var repositoryID: Int64
    var slug: String
    var repositoryURL: String
    var settingsJSON: String
    var jobs: [Job]

    var ownerName: String { slug.split(separator: "/", maxSplits: 1).first.map(String.init) ?? slug }
    var repositoryName: String { slug.split(separator: "/", maxSplits: 1).dropFirst().first.map(String.init) ?? slug }

    static func load(_ id: Int64, postgres: PostgresClient) async throws -> BuildSnapshot? {
        guard let row = try await postgres.query("""
            SELECT b.id, b.number, b.state, b.run, b.event_type, b.branch, b.sha, b.tag, b.commit_message,
                   round(extract(epoch FROM b.started_at) * 1000)::bigint AS started_ms,
                   round(extract(epoch FROM b.finished_at) * 1000)::bigint AS finished_ms,
                   r.id AS repo_id, r.slug, r.url, r.settings::text AS settings
            FROM builds b JOIN repositories r ON r.id = b.repository_id WHERE b.id = $1
            """, id).first else { return nil }
        let jobs = try await postgres.query("""
            SELECT id, number, state, allow_failure, stage, queue,
                   round(extract(epoch FROM started_at) * 1000)::bigint AS started_ms,
                   round(extract(epoch FROM finished_at) * 1000)::bigint AS finished_ms
            FROM jobs WHERE build_id = $1 ORDER BY position, id
            """, id).rows.map { job in
            Job(id: try job.decode("id"), number: try job.decode("number"), state: try job.decode("state"),
                allowFailure: try job.decode("allow_failure"), stage: try job.decode("stage"), queue: try job.decode("queue"),
                startedMillis: try job.decode("started_ms"), finishedMillis: try job.decode("finished_ms"))
        }
        return BuildSnapshot(id: try row.decode("id"), number: try row.decode("number"), state: try row.decode("state"),
                             run: try row.decode("run"), eventType: try row.decode("event_type"), branch: try row.decode("branch"),
                             sha: try row.decode("sha"), tag: try row.decode("tag"), message: try row.decode("commit_message"),
                             startedMillis: try row.decode("started_ms"), finishedMillis: try row.decode("finished_ms"),
                             repositoryID: try row.decode("repo_id"), slug: try row.decode("slug"), repositoryURL: try row.decode("url"),
                             settingsJSON: try row.decode("settings"), jobs: jobs)
    }
}
