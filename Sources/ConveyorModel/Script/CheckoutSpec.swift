/// Where a job's source comes from.
public struct CheckoutSpec: Sendable, Hashable {
    public var repoURL: String
    public var sha: String
    /// Cloned with `--branch` when given (a shallow clone then holds the branch's head).
    public var branch: String?
    /// `git clone --depth`; 0 clones the full history.
    public var depth: Int

    public init(repoURL: String, sha: String, branch: String? = nil, depth: Int = 50) {
        self.repoURL = repoURL
        self.sha = sha
        self.branch = branch
        self.depth = depth
    }
}
