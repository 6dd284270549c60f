import ConveyorCore
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// `POST /webhooks/github` (docs/api.md#webhooks). In this order:
/// 1. headers only: the event name, and a well-formed `X-Hub-Signature-256`, else 400/401;
/// 2. the raw body (at most 25 MiB, GitHub's own cap), its HMAC checked against the global
///    secret; if that fails, `repository.full_name` is found by `RepositoryNameScan` (one pass,
///    no parse) and the repository's own secret, if it has one, is tried — the only query an
///    unsigned body can cause. No match: 401;
/// 3. only then the body is checked and parsed; a payload verified by a repository's secret
///    must name that same repository;
/// 4. events that don't build get 202 and the reason; a redelivered `X-GitHub-Delivery` gets
///    200 "duplicate delivery"; a build request gets 202 and its id.
struct WebhookRoutes: Sendable {
    static let maxBodyBytes = 25 << 20
    static let maxDepth = 64

    let context: NodeContext
    let intake: RequestIntake
    let retention: DeliveryRetention

    init(context: NodeContext, intake: RequestIntake) {
        self.context = context
        self.intake = intake
        self.retention = DeliveryRetention(context: context)
    }

    func register(on router: Router<WebContext>) {
        router.post("/webhooks/github") { request, _ -> Response in try await handle(request) }
    }

    enum Trust: Equatable {
        case global
        case repository(String)
    }

    func handle(_ request: Request) async throws -> Response {
        let event = request.headers[HTTPField.Name("X-GitHub-Event")!] ?? ""
        guard !event.isEmpty else { throw APIError(.badRequest, "missing X-GitHub-Event header") }
        guard event.utf8.count <= 64, event.utf8.allSatisfy({ (0x61...0x7A).contains($0) || $0 == 0x5F }) else {
            throw APIError(.badRequest, "X-GitHub-Event must be an event name such as push, got '\(event.prefix(64))'")
        }
        let delivery = request.headers[HTTPField.Name("X-GitHub-Delivery")!]
        if let delivery, delivery.isEmpty || delivery.utf8.count > 128 || !delivery.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) {
            throw APIError(.badRequest, "X-GitHub-Delivery must be 1 to 128 printable characters")
        }
        let signatureHeader = request.headers[HTTPField.Name("X-Hub-Signature-256")!]
        guard let signature = WebhookSignature(header: signatureHeader) else {
            throw APIError(.unauthorized, signatureHeader == nil ? "missing X-Hub-Signature-256 header" : "X-Hub-Signature-256 must be sha256= and 64 hex digits")
        }
        let body = try await request.bodyBytes(limit: Self.maxBodyBytes)
        let trust = try await verify(body, signature)

        try JSONBody.check(body, maxDepth: Self.maxDepth)
        let payload: GitHubEvent
        if event == "push" || event == "pull_request" {
            payload = try JSONBody.decode(GitHubEvent.self, from: body, maxDepth: Self.maxDepth)
        } else {
            payload = GitHubEvent()  // not read: any well-formed payload of another event is accepted
        }
        var newRequest: RequestIntake.NewRequest
        switch try payload.plan(event: event, raw: String(decoding: body, as: UTF8.self)) {
        case .ignore(let reason): return encode(WebhookIgnored(ignored: reason, event: event), .accepted)
        case .build(let request): newRequest = request
        }
        let slug = payload.repository?.fullName
        if case .repository(let signedFor) = trust, slug != signedFor {
            throw APIError(.unauthorized, "signature does not match")
        }
        guard let slug else { throw APIError(.badRequest, "missing field repository.full_name") }
        guard Self.isSlug(slug) else { throw APIError(.badRequest, "field repository.full_name: must be owner/name, got '\(slug.prefix(200))'") }
        newRequest.deliveryID = delivery
        let isPrivate = payload.repository?.private ?? false
        let repo: RequestIntake.Repo
        if let known = try await intake.repository(slug: slug) {
            repo = known
            if let flag = payload.repository?.private { try await intake.setPrivate(known, flag) }
        } else {
            // A new repository signed with the global secret is registered on first contact.
            guard let url = payload.repository?.cloneURL ?? payload.repository?.url, !url.isEmpty else {
                throw APIError(.badRequest, "missing field repository.clone_url")
            }
            try GitRemote.validate(url, field: "repository.clone_url")
            repo = try await intake.register(slug: slug, url: url, isPrivate: isPrivate)
        }
        await retention.pruneIfDue()
        switch try await intake.submit(repo: repo, request: newRequest) {
        case .created(let id):
            return encode(RequestAccepted(request: id, repo: repo.slug, sha: newRequest.sha, branch: newRequest.branch), .accepted)
        case .duplicate(let earlier):
            return encode(WebhookDuplicate(duplicate: "duplicate delivery \(delivery ?? "")", request: earlier), .ok)
        }
    }

    /// Which secret signed `body`; 401 when none did.
    func verify(_ body: [UInt8], _ signature: WebhookSignature) async throws -> Trust {
        if let global = context.settings.webhookSecret, signature.matches(body, secret: global) { return .global }
        guard let slug = RepositoryNameScan.fullName(in: body), Self.isSlug(slug),
              let secret = try await intake.repository(slug: slug)?.webhookSecret else {
            if context.settings.webhookSecret == nil {
                throw APIError(.unauthorized, "no webhook secret configured for this repository (set CONVEYOR_WEBHOOK_SECRET or the repository's secret)")
            }
            throw APIError(.unauthorized, "signature does not match")
        }
        guard signature.matches(body, secret: secret) else { throw APIError(.unauthorized, "signature does not match") }
        return .repository(slug)
    }

    static func isSlug(_ slug: String) -> Bool {
        let parts = slug.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 2 && (try? Slug.make(owner: String(parts[0]), repo: String(parts[1]))) != nil
    }

    func encode<T: Encodable>(_ value: T, _ status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: APIJSON.encode(value))))
    }
}

/// Deletes delivery ids older than `webhook_delivery_retention_hours`, at most once an hour per node.
final class DeliveryRetention: Sendable {
    let context: NodeContext
    let lastRun = Mutex<ContinuousClock.Instant?>(nil)

    init(context: NodeContext) { self.context = context }

    func pruneIfDue() async {
        let now = ContinuousClock.now
        let due = lastRun.withLock { last -> Bool in
            if let last, now - last < .seconds(3600) { return false }
            last = now
            return true
        }
        guard due else { return }
        do {
            try await context.postgres.query("DELETE FROM webhook_deliveries WHERE received_at < now() - make_interval(hours => $1)",
                                             [.int(context.settings.webhookDeliveryRetentionHours)])
        } catch {
            context.logger.warning("could not prune old webhook deliveries", metadata: ["error": "\(error)"])
        }
    }
}
