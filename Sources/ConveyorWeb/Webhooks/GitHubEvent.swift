import ConveyorModel

/// The fields Conveyor reads from GitHub's `push` and `pull_request` payloads
/// (https://docs.github.com/en/webhooks/webhook-events-and-payloads). Everything is optional
/// here; `WebhookRoutes` says which are required for a build and names the missing one.
struct GitHubEvent: Decodable, Sendable {
    struct Repository: Decodable, Sendable {
        var fullName: String?
        var cloneURL: String?
        var url: String?
        var `private`: Bool?
        enum CodingKeys: String, CodingKey { case fullName = "full_name", cloneURL = "clone_url", url, `private` }
    }
    struct Commit: Decodable, Sendable { var message: String? }
    struct User: Decodable, Sendable { var login: String? }
    struct Branch: Decodable, Sendable { var ref: String?; var sha: String? }
    struct PullRequest: Decodable, Sendable {
        var head: Branch?
        var base: Branch?
        var title: String?
    }

    var action: String?
    var ref: String?
    var after: String?
    var deleted: Bool?
    var headCommit: Commit?
    var sender: User?
    var repository: Repository?
    var number: Int?
    var pullRequest: PullRequest?

    enum CodingKeys: String, CodingKey {
        case action, ref, after, deleted, sender, repository, number
        case headCommit = "head_commit", pullRequest = "pull_request"
    }

    static let buildingActions: Set<String> = ["opened", "synchronize", "reopened"]

    /// What a verified event asks for: a build, or nothing (with the reason for the 202).
    enum Plan: Sendable {
        case build(RequestIntake.NewRequest)
        case ignore(String)
    }

    func plan(event: String, raw: String) throws -> Plan {
        switch event {
        case "push": return try pushPlan(raw: raw)
        case "pull_request": return try pullRequestPlan(raw: raw)
        case "ping": return .ignore("ping: the webhook is set up; nothing to build")
        default: return .ignore("event \(event) does not build")
        }
    }

    func pushPlan(raw: String) throws -> Plan {
        guard let ref else { throw APIError(.badRequest, "missing field ref") }
        if deleted == true || (after.map { !$0.isEmpty && $0.allSatisfy { $0 == "0" } } ?? false) {
            return .ignore("ref \(ref) was deleted; nothing to build")
        }
        guard let (name, isTag) = RefName.parse(pushed: ref) else { return .ignore("ref \(ref) is not a branch or a tag; nothing to build") }
        guard let after, RefName.isCommitID(after, allowAbbreviated: false) else { throw APIError(.badRequest, "field after: must be the pushed commit id (40 or 64 hex digits)") }
        if let problem = RefName.branchProblem(name) { throw APIError(.badRequest, "field ref: \(problem)") }
        return .build(.init(eventType: "push", branch: name, sha: after, tag: isTag ? name : nil, commitMessage: headCommit?.message ?? "",
                            sender: sender?.login, payload: raw))
    }

    func pullRequestPlan(raw: String) throws -> Plan {
        let action = action ?? ""
        guard Self.buildingActions.contains(action) else { return .ignore("pull_request action '\(action)' does not build") }
        guard let sha = pullRequest?.head?.sha else { throw APIError(.badRequest, "missing field pull_request.head.sha") }
        guard RefName.isCommitID(sha, allowAbbreviated: false) else { throw APIError(.badRequest, "field pull_request.head.sha: must be a commit id (40 or 64 hex digits)") }
        let base = pullRequest?.base?.ref ?? ""
        let branch = base.isEmpty ? (pullRequest?.head?.ref ?? "") : base
        if let problem = RefName.branchProblem(branch) { throw APIError(.badRequest, "field pull_request.base.ref: \(problem)") }
        return .build(.init(eventType: "pull_request", branch: branch, sha: sha, commitMessage: pullRequest?.title ?? "",
                            sender: sender?.login, pullRequest: number, payload: raw))
    }
}
