import ConveyorCore
import ConveyorModel
import Foundation
import Hummingbird

/// `POST /api/v1/repos/{owner}/{repo}/requests`: a build of a branch (and sha), with an optional
/// message and a config merged over the repository's, as Travis's API trigger did. An unknown
/// repository is registered when the body names its git `url`. Body: `TriggerBody`.
struct TriggerRoutes: Sendable {
    let context: NodeContext
    let intake: RequestIntake
    let access: Access

    func register(on router: Router<WebContext>) {
        router.post("/api/v1/repos/:owner/:repo/requests") { request, ctx -> EditedResponse<RequestAccepted> in
            try access.requireWrite(request)
            let slug = try Slug.make(owner: ctx.parameters.get("owner"), repo: ctx.parameters.get("repo"))
            let body = try await request.decode(as: TriggerBody.self, context: ctx)
            try body.validate()
            return EditedResponse(status: .accepted, response: try await trigger(slug: slug, body: body))
        }
    }

    func trigger(slug: String, body: TriggerBody) async throws -> RequestAccepted {
        let branch = body.branch ?? "main"
        var repo = try await intake.repository(slug: slug)
        if repo == nil {
            guard let url = body.url else {
                throw APIError(.notFound, "unknown repository \(slug); include \"url\" (its git remote) to register it")
            }
            repo = try await intake.register(slug: slug, url: url, isPrivate: body.private ?? false)
        }
        guard let repo else { throw APIError(.notFound, "unknown repository \(slug)") }
        var sha = body.sha ?? ""
        if sha.isEmpty { sha = try await resolve(url: repo.url, branch: branch) }
        let payload = String(decoding: APIJSON.encode(body), as: UTF8.self)
        let outcome = try await intake.submit(repo: repo, request: .init(
            eventType: "api", branch: branch, sha: sha, commitMessage: body.message ?? "API request", sender: body.sender,
            configOverride: body.config?.text, payload: payload))
        guard case .created(let id) = outcome else { throw APIError(.conflict, "request already exists") }
        return RequestAccepted(request: id, repo: repo.slug, sha: sha, branch: branch)
    }

    /// The commit a branch points at, through `git ls-remote`. The branch name was validated
    /// (`RefName.branchProblem`), so the pattern holds no wildcard or refspec syntax.
    func resolve(url: String, branch: String) async throws -> String {
        let result = try await Subprocess.run(["git", "-c", "protocol.file.allow=always", "ls-remote", "--", url, "refs/heads/\(branch)"], timeout: .seconds(30))
        let line = String(decoding: result.output, as: UTF8.self).split(separator: "\n").first ?? ""
        guard result.status == 0, let sha = line.split(separator: "\t").first, RefName.isCommitID(String(sha)) else {
            throw APIError(.badRequest, "branch \(branch) not found at \(url)")
        }
        return String(sha)
    }
}
