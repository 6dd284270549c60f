/// What branch rules, `[ci skip]` and `if:` conditions see of a build request.
public struct BuildRequestContext: Sendable, Hashable {
    /// The branch pushed to (for a tag push, the tag name; for a pull request, its base branch).
    public var branch: String
    public var tag: String?
    /// push | pull_request | api | cron
    public var eventType: String
    /// owner/name
    public var repo: String
    /// owner/name of the pull request's head repository, if any.
    public var headRepo: String?
    public var sender: String?
    public var fork: Bool
    public var commitMessage: String
    public var pullRequestBaseBranch: String?
    /// A pull request's number, head branch and head commit (`head_branch`, `head_sha` in conditions).
    public var pullRequest: Int?
    public var headBranch: String?
    public var headSha: String?
    /// The repository settings' env vars: conditions' `env()` sees them before the config's own.
    public var settingsEnv: [EnvVar] = []

    public init(branch: String, tag: String? = nil, eventType: String = "push", repo: String = "",
                sender: String? = nil, fork: Bool = false, commitMessage: String = "",
                pullRequestBaseBranch: String? = nil, headRepo: String? = nil, pullRequest: Int? = nil,
                headBranch: String? = nil, headSha: String? = nil, settingsEnv: [EnvVar] = []) {
        self.pullRequest = pullRequest
        self.headBranch = headBranch
        self.headSha = headSha
        self.settingsEnv = settingsEnv
        self.branch = branch
        self.tag = tag
        self.eventType = eventType
        self.repo = repo
        self.headRepo = headRepo
        self.sender = sender
        self.fork = fork
        self.commitMessage = commitMessage
        self.pullRequestBaseBranch = pullRequestBaseBranch
    }

    /// The branch that `branches: only/except` applies to: a pull request's base branch, else the branch.
    public var branchForRules: String {
        if eventType == "pull_request", let base = pullRequestBaseBranch { return base }
        return branch
    }
}
