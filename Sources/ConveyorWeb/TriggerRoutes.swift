import ConveyorCore
import Foundation
import Hummingbird

/// `POST /api/v1/repos/{owner}/{repo}/requests`: a build of a branch (and sha), with an optional
/// message and a config merged over the repository's, as Travis's API trigger did. An unknown
/// repository is registered when the body names its git `url`.
struct TriggerRoutes: Sendable {
    let context: NodeContext
    let intake: RequestIntake
    let auth: TokenCheck

    func register<C: RequestContext>(on router: Router<C>) {
        router.post("/api/v1/repos/:owner/:repo/requests") { request, ctx -> Response in
            try auth.require(request)
            let slug = "\(ctx.parameters.get("owner") ?? "")/\(ctx.parameters.get("repo") ?? "")"
            return try await trigger(slug: slug, body: try await request.jsonBody())
        }
    }

    func trigger(slug: String, body: [String: Any]) async throws -> Response {
        let branch = (body["branch"] as? String) ?? "main"
        var repo = try await intake.repository(slug: slug)
        if repo == nil {
            guard let url = body["url"] as? String, !url.isEmpty else {
                throw APIError(.notFound, "unknown repository \(slug); include \"url\" (its git remote) to register it")
            }
            repo = try await intake.register(slug: slug, url: url)
        }
        guard let repo else { throw APIError(.notFound, "unknown repository \(slug)") }
        var sha = body["sha"] as? String ?? ""
        if sha.isEmpty { sha = try await resolve(url: repo.url, branch: branch) }
        guard sha.range(of: "^[0-9a-fA-F]{7,64}$", options: .regularExpression) != nil else {
            throw APIError(.badRequest, "sha must be a commit id, got '\(sha)'")
        }
        var override: String?
        if let config = body["config"] as? String {
            override = config
        } else if let config = body["config"] {
            // A JSON object is valid YAML.
            override = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        }
        let payload = String(decoding: (try? JSONSerialization.data(withJSONObject: body)) ?? Data("{}".utf8), as: UTF8.self)
        let id = try await intake.submit(repo: repo, request: .init(eventType: "api", branch: branch, sha: sha, commitMessage: body["message"] as? String ?? "API request",
                                                                      sender: body["sender"] as? String, configOverride: override, payload: payload))
        return JSONResponse.ok(.object(["request": .int(Int(id)), "repo": .string(repo.slug), "sha": .string(sha), "branch": .string(branch)]), status: .accepted)
    }

    /// The commit a branch points at, through `git ls-remote`.
    func resolve(url: String, branch: String) async throws -> String {
        let result = try await Subprocess.run(["git", "-c", "protocol.file.allow=always", "ls-remote", "--", url, "refs/heads/\(branch)"], timeout: .seconds(30))
        let line = String(decoding: result.output, as: UTF8.self).split(separator: "\n").first ?? ""
        guard result.status == 0, let sha = line.split(separator: "\t").first, !sha.isEmpty else {
            throw APIError(.badRequest, "branch \(branch) not found at \(url)")
        }
        return String(sha)
    }
}
