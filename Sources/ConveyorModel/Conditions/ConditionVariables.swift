/// The variables a condition can name, and where their values come from.
enum ConditionVariables {
    /// Variables taken from the request.
    static let requestNames: Set<String> = [
        "branch", "tag", "type", "repo", "head_repo", "head_branch", "head_sha", "sender", "fork", "commit_message",
    ]
    /// Variables taken from the job (or the top-level config, for build and stage conditions).
    static let jobNames: Set<String> = ["os", "language", "dist", "arch", "sudo"]

    static var allNames: Set<String> { requestNames.union(jobNames) }

    static func value(of name: String, context: BuildRequestContext, jobKeys: [String: JSONValue]) -> String? {
        switch name {
        case "branch": return context.branch
        case "tag": return context.tag
        case "type": return context.eventType
        case "repo": return context.repo
        case "head_repo": return context.headRepo
        case "head_branch": return context.headBranch
        case "head_sha": return context.headSha
        case "sender": return context.sender
        case "fork": return context.fork ? "true" : "false"
        case "commit_message": return context.commitMessage
        default: return jobKeys[name]?.scalarText
        }
    }
}
