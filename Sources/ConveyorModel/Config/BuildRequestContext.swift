/// What branch rules, `[ci skip]` and `if:` conditions see of a build request.
public struct BuildRequestContext: Sendable, Hashable {
    /// The branch pushed to (for a tag push, the tag name; for a pull request, its head branch).
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

    public init(branch: String, tag: String? = nil, eventType: String = "push", repo: String = "",
                sender: String? = nil, fork: Bool = false, commitMessage: String = "",
                pullRequestBaseBranch: String? = nil, headRepo: String? = nil) {
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
