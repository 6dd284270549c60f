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
    /// A pull request's number, and its head as GitHub's payload gives it (`pull_request.head`).
    var pullRequest: Int?
    var head: PullRequestHead
    var autoCancel: AutoCancelPolicy
    var buildPushes = true
    var buildPullRequests = true

    /// The webhook payload is stored as received, so these are read from it here (docs/config.md).
    static let sql = """
        SELECT r.id, r.state, r.event_type, r.branch, r.sha, r.tag, r.commit_message, r.sender, r.config_override, r.pull_request,
               r.payload->'pull_request'->'head'->>'ref' AS head_branch, r.payload->'pull_request'->'head'->>'sha' AS head_sha,
               r.payload->'pull_request'->'head'->'repo'->>'full_name' AS head_repo,
               (r.payload->'pull_request'->'head' ? 'repo' AND jsonb_typeof(r.payload->'pull_request'->'head'->'repo') = 'null') AS head_repo_gone,
               p.id AS repository_id, p.slug, p.url, p.max_concurrent_jobs,
               p.auto_cancel_pushes, p.auto_cancel_pull_requests, p.auto_cancel_running_jobs, p.build_pushes, p.build_pull_requests,
               o.id AS owner_id, o.login, o.concurrency_limit, o.queue_limits::text AS queue_limits
        FROM requests r JOIN repositories p ON p.id = r.repository_id JOIN owners o ON o.id = p.owner_id
        WHERE r.id = $1
        """

    static func load(_ id: Int64, from postgres: PostgresClient) async throws -> BuildRequest? {
        let result = try await postgres.query(sql, [.int(id)])
        guard let row = result.first else { return nil }
        return BuildRequest(
            id: try row.decode("id"), state: try row.decode("state"), eventType: try row.decode("event_type"),
            branch: try row.decode("branch"), sha: try row.decode("sha"), tag: row["tag"].string,
            commitMessage: row["commit_message"].string ?? "", sender: row["sender"].string, configOverride: row["config_override"].string,
            repositoryID: try row.decode("repository_id"), repoSlug: try row.decode("slug"), repoURL: try row.decode("url"),
            ownerID: try row.decode("owner_id"), ownerLogin: try row.decode("login"), ownerLimit: row["concurrency_limit"].int,
            queueLimits: row["queue_limits"].string ?? "{}", repoLimit: row["max_concurrent_jobs"].int,
            pullRequest: row["pull_request"].int,
            head: PullRequestHead(repo: row["head_repo"].string, branch: row["head_branch"].string, sha: row["head_sha"].string,
                                  repoGone: row["head_repo_gone"].bool ?? false),
            autoCancel: AutoCancelPolicy(pushes: row["auto_cancel_pushes"].bool ?? true,
                                         pullRequests: row["auto_cancel_pull_requests"].bool ?? true,
                                         running: row["auto_cancel_running_jobs"].bool ?? false),
            buildPushes: row["build_pushes"].bool ?? true, buildPullRequests: row["build_pull_requests"].bool ?? true)
    }

    /// Whether secrets may reach this build's jobs (a fork's pull request gets none); nil for other events.
    var origin: PullRequestOrigin? {
        guard eventType == "pull_request" else { return nil }
        return head.isFork(of: repoSlug) ? .fork(head: head.repo) : .sameRepository
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
        guard eventType == "pull_request" else {
            return BuildRequestContext(branch: branch, tag: tag, eventType: eventType, repo: repoSlug, sender: sender, commitMessage: commitMessage)
        }
        return BuildRequestContext(
            branch: branch, tag: tag, eventType: eventType, repo: repoSlug, sender: sender,
            fork: head.isFork(of: repoSlug), commitMessage: commitMessage, pullRequestBaseBranch: branch,
            headRepo: head.repo ?? repoSlug, pullRequest: pullRequest, headBranch: head.branch, headSha: head.sha ?? sha)
    }
}
