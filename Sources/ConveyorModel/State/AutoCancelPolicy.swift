/// Travis's auto-cancellation (repository settings, on by default): a new build of a branch (pushes) or
/// of a pull request supersedes the older, unfinished builds of the same branch or pull request. Their
/// waiting jobs are canceled, their running ones too when `running` is set. See docs/config.md.
public struct AutoCancelPolicy: Sendable, Hashable {
    public var pushes: Bool
    public var pullRequests: Bool
    /// Also cancel jobs already received or started by a worker.
    public var running: Bool

    public init(pushes: Bool = true, pullRequests: Bool = true, running: Bool = false) {
        self.pushes = pushes
        self.pullRequests = pullRequests
        self.running = running
    }

    /// What builds compete on.
    public enum Scope: Sendable, Hashable {
        case branch(String)
        case pullRequest(Int)
    }

    /// nil when this build supersedes nothing: tags, API and cron builds, or the setting is off.
    public func scope(eventType: String, branch: String, tag: String?, pullRequest: Int?) -> Scope? {
        switch eventType {
        case "push" where pushes && tag == nil: return .branch(branch)
        case "pull_request" where pullRequests: return pullRequest.map(Scope.pullRequest)
        default: return nil
        }
    }

    /// Whether a superseded build's job in `state` is canceled.
    public func cancels(_ state: JobState) -> Bool {
        switch state {
        case .created, .queued: return true
        case .received, .started: return running
        case .passed, .failed, .errored, .canceled: return false
        }
    }

    public static func reason(supersededBy buildNumber: Int) -> String {
        "superseded by build #\(buildNumber)"
    }
}
