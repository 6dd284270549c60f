import ConveyorCore
import ConveyorPostgres
import ConveyorRedis
import ConveyorSecrets
import Foundation

/// Stores a build request, then hands it to the gatekeepers through `cv:requests`. The response
/// never waits for config processing. A request stored but not streamed (Redis down at that
/// moment) is picked up by the gatekeeper's sweep of old pending requests.
struct RequestIntake: Sendable {
    let context: NodeContext
    /// Makes a repository's key pair when it is registered (docs/security.md).
    var keys: RepositoryKeyStore?

    struct Repo: Sendable {
        var id: Int64
        var slug: String
        var url: String
        var webhookSecret: String?
        var isPrivate: Bool
    }

    struct NewRequest: Sendable {
        var eventType: String
        var branch: String
        var sha: String
        var tag: String?
        var commitMessage: String
        var sender: String?
        var pullRequest: Int?
        var configOverride: String?
        var payload: String
        /// GitHub's `X-GitHub-Delivery`: a second request with the same id is refused.
        var deliveryID: String?
    }

    enum Outcome: Sendable, Equatable {
        case created(Int64)
        /// The delivery was already processed; the request it created, if still known.
        case duplicate(Int64?)
    }

    func repository(slug: String) async throws -> Repo? {
        let row = try await context.postgres.read("SELECT id, slug, url, webhook_secret, private FROM repositories WHERE slug = $1", [.text(slug)]).first
        guard let row else { return nil }
        return Repo(id: try row.decode("id"), slug: try row.decode("slug"), url: try row.decode("url"),
                    webhookSecret: try row.decode("webhook_secret"), isPrivate: try row.decode("private"))
    }

    /// Registers an owner and repository (idempotent) and returns the repository.
    func register(slug: String, url: String, isPrivate: Bool) async throws -> Repo {
        let parts = slug.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw APIError(.badRequest, "repository must be owner/name, got '\(slug)'") }
        let repo = try await context.postgres.transaction { conn in
            let owner: Int64 = try await conn.query("""
                INSERT INTO owners (login) VALUES ($1) ON CONFLICT (login) DO UPDATE SET login = EXCLUDED.login RETURNING id
                """, [.text(String(parts[0]))]).first!.decode("id")
            let row = try await conn.query("""
                INSERT INTO repositories (owner_id, slug, url, private) VALUES ($1, $2, $3, $4)
                ON CONFLICT (slug) DO UPDATE SET url = EXCLUDED.url RETURNING id, webhook_secret, private
                """, [.int(owner), .text(slug), .text(url), .bool(isPrivate)]).first!
            return Repo(id: try row.decode("id"), slug: slug, url: url, webhookSecret: try row.decode("webhook_secret"), isPrivate: try row.decode("private"))
        }
        if let keys {
            do {
                _ = try await keys.ensure(repository: repo.id)
            } catch {
                // Registration still succeeds: the key is made on the first `GET …/key` once a key is configured.
                context.logger.warning("repository registered without a key pair", metadata: ["repo": "\(slug)", "error": "\(error)"])
            }
        }
        return repo
    }

    /// Follows the webhook's `repository.private` (docs/api.md#authentication).
    func setPrivate(_ repo: Repo, _ isPrivate: Bool) async throws {
        guard repo.isPrivate != isPrivate else { return }
        try await context.postgres.query("UPDATE repositories SET private = $2 WHERE id = $1", [.int(repo.id), .bool(isPrivate)])
    }

    func submit(repo: Repo, request: NewRequest) async throws -> Outcome {
        let outcome: Outcome = try await context.postgres.transaction { conn in
            if let delivery = request.deliveryID {
                // The delivery row first: a concurrent redelivery waits on it, then sees the conflict.
                let inserted = try await conn.query("""
                    INSERT INTO webhook_deliveries (id, event) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING RETURNING id
                    """, [.text(delivery), .text(request.eventType)])
                if inserted.rows.isEmpty {
                    let earlier = try await conn.query("SELECT request_id FROM webhook_deliveries WHERE id = $1", [.text(delivery)]).first
                    return .duplicate(try earlier?.decode("request_id", as: Int64?.self))
                }
            }
            let row = try await conn.query("""
                INSERT INTO requests (repository_id, event_type, payload, branch, sha, tag, commit_message, sender, pull_request, config_override)
                VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10) RETURNING id
                """, [.int(repo.id), .text(request.eventType), .text(request.payload), .text(request.branch), .text(request.sha),
                      .optional(request.tag), .text(request.commitMessage), .optional(request.sender), .optional(request.pullRequest),
                      .optional(request.configOverride)])
            let id: Int64 = try row.first!.decode("id")
            if let delivery = request.deliveryID {
                _ = try await conn.query("UPDATE webhook_deliveries SET request_id = $2 WHERE id = $1", [.text(delivery), .int(id)])
            }
            return .created(id)
        }
        guard case .created(let id) = outcome else { return outcome }
        do {
            try await context.redis.xadd(context.keys.requests, fields: [("request", RedisArgument(id))])
        } catch {
            context.logger.warning("request stored but not streamed; the gatekeeper sweep will pick it up", metadata: ["request": "\(id)", "error": "\(error)"])
        }
        return outcome
    }
}
