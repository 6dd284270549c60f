/// A pull request's head as GitHub's payload gives it (`pull_request.head`): where the change comes from.
public struct PullRequestHead: Sendable, Hashable {
    /// owner/name of the head repository; nil when the payload has none.
    public var repo: String?
    public var branch: String?
    public var sha: String?
    /// The payload says `head.repo: null`: the fork was deleted.
    public var repoGone: Bool

    public init(repo: String? = nil, branch: String? = nil, sha: String? = nil, repoGone: Bool = false) {
        self.repo = repo
        self.branch = branch
        self.sha = sha
        self.repoGone = repoGone
    }

    /// From another repository than the base (compared case-insensitively, as GitHub names are), or
    /// from a deleted fork. Fork pull requests get no secure values (travis-build).
    public func isFork(of baseRepo: String) -> Bool {
        if repoGone { return true }
        guard let repo else { return false }
        return repo.lowercased() != baseRepo.lowercased()
    }
}
