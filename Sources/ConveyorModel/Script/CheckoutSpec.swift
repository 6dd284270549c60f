/// Where a job's source comes from.
public struct CheckoutSpec: Sendable, Hashable {
    public var repoURL: String
    public var sha: String
    /// Cloned with `--branch` when given (a shallow clone then holds the branch's head).
    public var branch: String?
    /// `git clone --depth`; 0 clones the full history.
    public var depth: Int
    /// A pull request's number: the build checks out its merge result, `refs/pull/N/merge` (travis-build).
    public var pullRequest: Int?
    /// false when GitHub reported the pull request unmergeable: the head commit (`sha`) is built instead.
    public var mergeable: Bool?
    public var git: GitOptions

    public init(repoURL: String, sha: String, branch: String? = nil, depth: Int = 50, pullRequest: Int? = nil,
                mergeable: Bool? = nil, git: GitOptions = GitOptions()) {
        self.repoURL = repoURL
        self.sha = sha
        self.branch = branch
        self.depth = depth
        self.pullRequest = pullRequest
        self.mergeable = mergeable
        self.git = git
    }
}
