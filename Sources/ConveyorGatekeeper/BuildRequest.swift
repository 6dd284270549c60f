import ConveyorCore
import ConveyorModel
import ConveyorPostgres

/// A stored request row with what the gatekeeper needs of its repository and owner.
struct BuildRequest: Sendable {
    var id: Int64
    var state: String
    var eventType: String
    var branch: String
    var sha: String
    var tag: String?
    var commitMessage: String
    var sender: String?
    var configOverride: String?
    var repositoryID: Int64
    var repoSlug: String
    var repoURL: String
    var ownerID: Int64
    var ownerLogin: String
    var ownerLimit: Int?
    var queueLimits: String
    var repoLimit: Int?
    /// `pull_request.head.repo.full_name` / `base.repo.full_name` of a webhook payload (fork detection).
    var headRepo: String?
    var baseRepo: String?
    var buildPushes = true
    var buildPullRequests = true

    static func load(_ id: Int64, from postgres: PostgresClient) async throws -> BuildRequest? {
        let result = try await postgres.query("""
            SELECT r.id, r.state, r.event_type, r.branch, r.sha, r.tag, r.commit_message, r.sender, r.config_override,
                   p.id AS repository_id, p.slug, p.url, p.max_concurrent_jobs,
                   o.id AS owner_id, o.login, o.concurrency_limit, o.queue_limits::text AS queue_limits,
                   r.payload #>> '{pull_request,head,repo,full_name}' AS head_repo,
                   r.payload #>> '{pull_request,base,repo,full_name}' AS base_repo,
                   p.build_pushes, p.build_pull_requests
            FROM requests r JOIN repositories p ON p.id = r.repository_id JOIN owners o ON o.id = p.owner_id
            WHERE r.id = $1
            """, [.int(id)])
        guard let row = result.first else { return nil }
        return BuildRequest(
            id: try row.decode("id"), state: try row.decode("state"), eventType: try row.decode("event_type"),
            branch: try row.decode("branch"), sha: try row.decode("sha"), tag: row["tag"].string,
            commitMessage: row["commit_message"].string ?? "", sender: row["sender"].string, configOverride: row["config_override"].string,
            repositoryID: try row.decode("repository_id"), repoSlug: try row.decode("slug"), repoURL: try row.decode("url"),
            ownerID: try row.decode("owner_id"), ownerLogin: try row.decode("login"), ownerLimit: row["concurrency_limit"].int,
            queueLimits: row["queue_limits"].string ?? "{}", repoLimit: row["max_concurrent_jobs"].int,
            headRepo: row["head_repo"].string, baseRepo: row["base_repo"].string,
            buildPushes: row["build_pushes"].bool ?? true, buildPullRequests: row["build_pull_requests"].bool ?? true)
    }

    /// Whether secrets may reach this build's jobs (see `PullRequestOrigin`); nil for other events.
    var origin: PullRequestOrigin? {
        eventType == "pull_request" ? PullRequestOrigin.of(headRepo: headRepo, baseRepo: baseRepo, repository: repoSlug) : nil
    }

    /// Why the repository settings turn this event off, if they do.
    var turnedOff: String? {
        if eventType == "push" && !buildPushes { return "builds of pushes are turned off in the repository settings (build_pushes)" }
        if eventType == "pull_request" && !buildPullRequests {
            return "builds of pull requests are turned off in the repository settings (build_pull_requests)"
        }
        return nil
    }

    var context: BuildRequestContext {
        BuildRequestContext(branch: branch, tag: tag, eventType: eventType, repo: repoSlug, sender: sender, commitMessage: commitMessage)
    }
}
