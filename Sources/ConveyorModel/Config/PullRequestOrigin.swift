/// Where a pull request's commits come from. Travis's rule: a pull request from a fork gets no secure
/// values and no secret settings variables (anyone can open one, and its code runs in the job).
public enum PullRequestOrigin: Sendable, Equatable {
    case sameRepository
    case fork(head: String?)

    /// From GitHub's payload: `pull_request.head.repo.full_name` against `pull_request.base.repo.full_name`
    /// (or the repository the request is for). A head repository that is gone (a deleted fork) is a
    /// fork; so is one that cannot be told apart, since the safe answer is "no secrets".
    public static func of(headRepo: String?, baseRepo: String?, repository: String) -> PullRequestOrigin {
        let base = (baseRepo?.isEmpty == false ? baseRepo : nil) ?? repository
        guard let head = headRepo, !head.isEmpty else { return .fork(head: nil) }
        return head.lowercased() == base.lowercased() ? .sameRepository : .fork(head: head)
    }

    public var isFork: Bool { self != .sameRepository }

    /// The line a withheld job's log starts with.
    public var withheldNotice: String? {
        guard case .fork(let head) = self else { return nil }
        let from = head.map { " (\($0))" } ?? ""
        return "Secure environment variables are not available: this pull request comes from a fork\(from). TRAVIS_SECURE_ENV_VARS=false"
    }
}
