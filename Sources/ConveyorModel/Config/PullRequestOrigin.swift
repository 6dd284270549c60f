/// Where a pull request's commits come from (decided by `PullRequestHead.isFork`). Travis's rule: a pull
/// request from a fork gets no secure values and no secret settings variables (anyone can open one, and
/// its code runs in the job).
public enum PullRequestOrigin: Sendable, Equatable {
    case sameRepository
    case fork(head: String?)

    public var isFork: Bool { self != .sameRepository }

    /// The line a withheld job's log starts with.
    public var withheldNotice: String? {
        guard case .fork(let head) = self else { return nil }
        let from = head.map { " (\($0))" } ?? ""
        return "Secure environment variables are not available: this pull request comes from a fork\(from). TRAVIS_SECURE_ENV_VARS=false"
    }
}
