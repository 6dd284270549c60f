import ConveyorCore
import ConveyorModel
import ConveyorPostgres
import ConveyorRedis
import ConveyorSecrets
import Foundation
import Hummingbird

/// A repository named in a path, with what the settings routes need of it.
struct RepoRef: Sendable {
    var id: Int64
    var slug: String
    var owner: String

    static func find<C: RequestContext>(_ ctx: C, postgres: PostgresClient) async throws -> RepoRef {
        let slug = "\(ctx.parameters.get("owner") ?? "")/\(ctx.parameters.get("repo") ?? "")"
        guard let row = try await postgres.read("""
            SELECT r.id, r.slug, o.login FROM repositories r JOIN owners o ON o.id = r.owner_id WHERE r.slug = $1
            """, [.text(slug)]).first else { throw APIError(.notFound, "unknown repository \(slug)") }
        return RepoRef(id: try row.decode("id"), slug: try row.decode("slug"), owner: try row.decode("login"))
    }
}

/// `GET /api/v1/repos/{owner}/{repo}/key` (the public key `secure:` values are encrypted against) and
/// `GET/PATCH /api/v1/repos/{owner}/{repo}/settings`. See docs/security.md.
struct RepoSettingsRoutes: Sendable {
    let context: NodeContext
    let keys: RepositoryKeyStore
    let access: Access

    struct KeyResponse: ResponseEncodable {
        var publicKey: String
        var fingerprint: String
        enum CodingKeys: String, CodingKey { case publicKey = "public_key", fingerprint }
    }

    func register<C: RequestContext>(on router: Router<C>) {
        // The public key is public, as Travis's was: `travis encrypt` needs no login.
        router.get("/api/v1/repos/:owner/:repo/key") { _, ctx -> KeyResponse in
            let repo = try await RepoRef.find(ctx, postgres: context.postgres)
            do {
                let key = try await keys.ensure(repository: repo.id)
                return KeyResponse(publicKey: key.publicKey, fingerprint: key.fingerprint)
            } catch let error as SecretsError {
                throw APIError(.serviceUnavailable, error.description)
            }
        }
        router.get("/api/v1/repos/:owner/:repo/settings") { request, ctx -> RepositorySettings in
            try access.requireWrite(request)
            return try await load(try await RepoRef.find(ctx, postgres: context.postgres))
        }
        router.patch("/api/v1/repos/:owner/:repo/settings") { request, ctx -> RepositorySettings in
            try access.requireWrite(request)
            let repo = try await RepoRef.find(ctx, postgres: context.postgres)
            let patch = try await request.decode(as: RepositorySettingsPatch.self, context: ctx)
            try await apply(patch, to: repo)
            return try await load(repo)
        }
    }

    func load(_ repo: RepoRef) async throws -> RepositorySettings {
        guard let row = try await context.postgres.read("""
            SELECT slug, build_pushes, build_pull_requests, max_concurrent_jobs, hard_timeout_seconds, no_output_timeout_seconds, max_log_bytes,
                   auto_cancel_pushes, auto_cancel_pull_requests, auto_cancel_running_jobs, private, webhook_secret IS NOT NULL AS webhook_secret_set,
                   coalesce(settings->'webhooks', '[]'::jsonb)::text AS webhooks, coalesce((settings->>'webhooks_on_start')::boolean, false) AS on_start,
                   coalesce(settings->>'webhook_secret', '') <> '' AS notification_secret_set
            FROM repositories WHERE id = $1
            """, [.int(repo.id)]).first else { throw APIError(.notFound, "unknown repository \(repo.slug)") }
        let webhooksJSON = Data((row["webhooks"].string ?? "[]").utf8)
        let webhooks = (try? JSONDecoder().decode([String].self, from: webhooksJSON))
            ?? (try? JSONDecoder().decode(String.self, from: webhooksJSON)).map { [$0] } ?? []
        return RepositorySettings(
            repo: repo.slug, buildPushes: row["build_pushes"].bool ?? true, buildPullRequests: row["build_pull_requests"].bool ?? true,
            maxConcurrentJobs: row["max_concurrent_jobs"].int, hardTimeoutSeconds: row["hard_timeout_seconds"].int,
            noOutputTimeoutSeconds: row["no_output_timeout_seconds"].int, maxLogBytes: row["max_log_bytes"].int,
            autoCancelPushes: row["auto_cancel_pushes"].bool ?? true, autoCancelPullRequests: row["auto_cancel_pull_requests"].bool ?? true,
            autoCancelRunningJobs: row["auto_cancel_running_jobs"].bool ?? false,
            private: row["private"].bool ?? false, webhooks: webhooks, webhooksOnStart: row["on_start"].bool ?? false,
            webhookSecretSet: row["webhook_secret_set"].bool ?? false, notificationSecretSet: row["notification_secret_set"].bool ?? false)
    }

    /// One UPDATE for the columns and the `settings` document; then the concurrency limit goes to Redis
    /// at once (the admission script reads it there), and the scheduler is woken.
    func apply(_ patch: RepositorySettingsPatch, to repo: RepoRef) async throws {
        var update = SettingsUpdate()
        try update.column("build_pushes", patch.buildPushes, required: true) { .bool($0) }
        try update.column("build_pull_requests", patch.buildPullRequests, required: true) { .bool($0) }
        try update.column("auto_cancel_pushes", patch.autoCancelPushes, required: true) { .bool($0) }
        try update.column("auto_cancel_pull_requests", patch.autoCancelPullRequests, required: true) { .bool($0) }
        try update.column("auto_cancel_running_jobs", patch.autoCancelRunningJobs, required: true) { .bool($0) }
        try update.column("private", patch.private, required: true) { .bool($0) }
        try update.column("max_concurrent_jobs", patch.maxConcurrentJobs, check: Self.atLeast(0, "max_concurrent_jobs")) { .int($0) }
        try update.column("hard_timeout_seconds", patch.hardTimeoutSeconds, check: Self.atLeast(1, "hard_timeout_seconds")) { .int($0) }
        try update.column("no_output_timeout_seconds", patch.noOutputTimeoutSeconds, check: Self.atLeast(1, "no_output_timeout_seconds")) { .int($0) }
        try update.column("max_log_bytes", patch.maxLogBytes, check: Self.atLeast(1024, "max_log_bytes")) { .int($0) }
        if case .set(let secret) = patch.webhookSecret { update.set("webhook_secret", .optional(secret?.isEmpty == true ? nil : secret)) }
        var document: [String: JSONValue] = [:]
        var removed: [String] = []
        if case .set(let hooks) = patch.webhooks {
            for hook in hooks ?? [] where URL(string: hook)?.scheme.map({ ["http", "https"].contains($0) }) != true {
                throw APIError(.badRequest, "webhooks: '\(hook)' is not an http(s) URL")
            }
            document["webhooks"] = .array((hooks ?? []).map(JSONValue.string))
        }
        if case .set(let onStart) = patch.webhooksOnStart { document["webhooks_on_start"] = .bool(onStart ?? false) }
        if case .set(let secret) = patch.notificationSecret {
            if let secret, !secret.isEmpty { document["webhook_secret"] = .string(secret) } else { removed.append("webhook_secret") }
        }
        if !document.isEmpty || !removed.isEmpty {
            let json = JSONValue.object(document).jsonText()
            update.raw("settings = (settings - $\(update.next)::text[]) || $\(update.next + 1)::jsonb", [.array(removed.map { Optional($0) }), .text(json)])
        }
        guard !update.assignments.isEmpty else { return }
        try await context.postgres.query("UPDATE repositories SET \(update.assignments.joined(separator: ", ")) WHERE id = $1",
                                         [.int(repo.id)] + update.params)
        if case .set(let limit) = patch.maxConcurrentJobs { try await publishLimit(limit, repo: repo) }
    }

    /// The repository's limit in the owner's limits hash, as the gatekeeper writes it at a build.
    func publishLimit(_ limit: Int?, repo: RepoRef) async throws {
        let owner = try await context.postgres.read("SELECT concurrency_limit FROM owners WHERE login = $1", [.text(repo.owner)]).first
        let ownerLimit = owner?["concurrency_limit"].int ?? context.settings.defaultOwnerLimit
        if let limit {
            try await context.slots.setLimits(owner: repo.owner, max: ownerLimit, repoLimits: [repo.slug: limit])
        } else {
            try await context.redis.send(["HDEL", RedisArgument(context.keys.limits(repo.owner)), RedisArgument("repo:\(repo.slug)")])
        }
        try await context.slots.wake(owner: repo.owner, reason: "repository limit changed")
    }

    static func atLeast(_ minimum: Int, _ name: String) -> @Sendable (Int) throws -> Void {
        { value in if value < minimum { throw APIError(.badRequest, "\(name) must be ≥ \(minimum) or null, got \(value)") } }
    }
}

/// The `SET` list of an UPDATE built from a patch; `$1` is the row id, values follow.
struct SettingsUpdate {
    private(set) var assignments: [String] = []
    private(set) var params: [PostgresValue] = []
    var next: Int { params.count + 2 }

    mutating func set(_ column: String, _ value: PostgresValue) {
        assignments.append("\(column) = $\(next)")
        params.append(value)
    }

    mutating func raw(_ assignment: String, _ values: [PostgresValue]) {
        assignments.append(assignment)
        params += values
    }

    mutating func column<V>(_ name: String, _ field: PatchField<V>, required: Bool = false, check: ((V) throws -> Void)? = nil,
                            _ encode: (V) -> PostgresValue) throws {
        guard case .set(let value) = field else { return }
        guard let value else {
            if required { throw APIError(.badRequest, "\(name) cannot be null") }
            return set(name, .null)
        }
        try check?(value)
        set(name, encode(value))
    }
}
