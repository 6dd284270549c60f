import ConveyorCore
import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// `POST /webhooks/github`: push and pull_request events become build requests; ping is answered.
struct WebhookRoutes: Sendable {
    let context: NodeContext
    let intake: RequestIntake

    func register<C: RequestContext>(on router: Router<C>) {
        router.post("/webhooks/github") { request, _ -> Response in try await handle(request) }
    }

    func handle(_ request: Request) async throws -> Response {
        let body = try await request.bodyBytes(limit: 25 << 20)
        let event = request.headers[HTTPField.Name("X-GitHub-Event")!] ?? ""
        guard !event.isEmpty else { throw APIError(.badRequest, "missing X-GitHub-Event header") }
        guard let object = try? JSONSerialization.jsonObject(with: Data(body)), let payload = object as? [String: Any] else {
            throw APIError(.badRequest, "malformed JSON payload")
        }
        let repoInfo = payload["repository"] as? [String: Any]
        guard let slug = repoInfo?["full_name"] as? String else { throw APIError(.badRequest, "missing field repository.full_name") }
        let known = try await intake.repository(slug: slug)
        // The repository's own secret wins; otherwise the global one. Without either nothing is trusted.
        guard let secret = known?.webhookSecret ?? context.settings.webhookSecret else {
            throw APIError(.unauthorized, "no webhook secret configured for \(slug) (set CONVEYOR_WEBHOOK_SECRET or the repository's secret)")
        }
        let signature = request.headers[HTTPField.Name("X-Hub-Signature-256")!] ?? ""
        let expected = "sha256=" + HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8)))
            .map { String(format: "%02x", $0) }.joined()
        guard constantTimeEqual(Array(signature.utf8), Array(expected.utf8)) else {
            throw APIError(.unauthorized, signature.isEmpty ? "missing X-Hub-Signature-256 header" : "signature does not match")
        }
        if event == "ping" { return JSONResponse.ok(.object(["ok": .bool(true), "event": .string("ping")])) }
        let parsed: RequestIntake.NewRequest
        switch event {
        case "push": parsed = try GitHubPayload.push(payload, raw: body)
        case "pull_request":
            guard let pr = try GitHubPayload.pullRequest(payload, raw: body) else {
                return JSONResponse.ok(.object(["ignored": .string("pull_request action '\(payload["action"] as? String ?? "")' does not build")]), status: .accepted)
            }
            parsed = pr
        default:
            return JSONResponse.ok(.object(["ignored": .string("event \(event) does not build")]), status: .accepted)
        }
        let repo: RequestIntake.Repo
        if let known {
            repo = known
        } else {
            // A new repository signed with the global secret is registered on first contact.
            let url = (repoInfo?["clone_url"] as? String) ?? (repoInfo?["url"] as? String) ?? ""
            guard !url.isEmpty else { throw APIError(.badRequest, "missing field repository.clone_url") }
            repo = try await intake.register(slug: slug, url: url)
        }
        let id = try await intake.submit(repo: repo, request: parsed)
        return JSONResponse.ok(.object(["request": .int(Int(id)), "repo": .string(repo.slug)]), status: .accepted)
    }
}

/// Reads the fields Conveyor needs out of GitHub's payloads, naming any that is missing.
enum GitHubPayload {
    static func push(_ p: [String: Any], raw: [UInt8]) throws -> RequestIntake.NewRequest {
        guard let ref = p["ref"] as? String else { throw APIError(.badRequest, "missing field ref") }
        guard let sha = p["after"] as? String, sha.count >= 7 else { throw APIError(.badRequest, "missing field after (the pushed commit)") }
        if (p["deleted"] as? Bool) == true { throw APIError(.unprocessableContent, "ref \(ref) was deleted; nothing to build") }
        let isTag = ref.hasPrefix("refs/tags/")
        let name = ref.replacingOccurrences(of: isTag ? "refs/tags/" : "refs/heads/", with: "")
        let head = p["head_commit"] as? [String: Any]
        return .init(eventType: "push", branch: name, sha: sha, tag: isTag ? name : nil, commitMessage: head?["message"] as? String ?? "",
                     sender: (p["sender"] as? [String: Any])?["login"] as? String, payload: String(decoding: raw, as: UTF8.self))
    }

    static func pullRequest(_ p: [String: Any], raw: [UInt8]) throws -> RequestIntake.NewRequest? {
        let action = p["action"] as? String ?? ""
        guard ["opened", "synchronize", "reopened"].contains(action) else { return nil }
        guard let pr = p["pull_request"] as? [String: Any], let head = pr["head"] as? [String: Any], let sha = head["sha"] as? String else {
            throw APIError(.badRequest, "missing field pull_request.head.sha")
        }
        let base = (pr["base"] as? [String: Any])?["ref"] as? String ?? ""
        return .init(eventType: "pull_request", branch: base.isEmpty ? (head["ref"] as? String ?? "") : base, sha: sha,
                     commitMessage: pr["title"] as? String ?? "", sender: (p["sender"] as? [String: Any])?["login"] as? String,
                     pullRequest: p["number"] as? Int, payload: String(decoding: raw, as: UTF8.self))
    }
}
