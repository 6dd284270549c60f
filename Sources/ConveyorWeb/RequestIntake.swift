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
    }

    func repository(slug: String) async throws -> Repo? {
        let row = try await context.postgres.query("SELECT id, slug, url, webhook_secret FROM repositories WHERE slug = $1", [.text(slug)]).first
        guard let row else { return nil }
        return Repo(id: try row.decode("id"), slug: try row.decode("slug"), url: try row.decode("url"), webhookSecret: row["webhook_secret"].string)
    }

    /// Registers an owner and repository (idempotent) and returns the repository.
    func register(slug: String, url: String) async throws -> Repo {
        let parts = slug.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { throw APIError(.badRequest, "repository must be owner/name, got '\(slug)'") }
        let repo = try await context.postgres.transaction { conn in
            let owner = try await conn.query("""
                INSERT INTO owners (login) VALUES ($1) ON CONFLICT (login) DO UPDATE SET login = EXCLUDED.login RETURNING id
                """, [.text(String(parts[0]))]).first!["id"].int64!
            let row = try await conn.query("""
                INSERT INTO repositories (owner_id, slug, url) VALUES ($1, $2, $3)
                ON CONFLICT (slug) DO UPDATE SET url = EXCLUDED.url RETURNING id, webhook_secret
                """, [.int(owner), .text(slug), .text(url)]).first!
            return Repo(id: try row.decode("id"), slug: slug, url: url, webhookSecret: row["webhook_secret"].string)
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

    func submit(repo: Repo, request: NewRequest) async throws -> Int64 {
        let row = try await context.postgres.query("""
            INSERT INTO requests (repository_id, event_type, payload, branch, sha, tag, commit_message, sender, pull_request, config_override)
            VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10) RETURNING id
            """, [.int(repo.id), .text(request.eventType), .text(request.payload), .text(request.branch), .text(request.sha),
                  .optional(request.tag), .text(request.commitMessage), .optional(request.sender), .optional(request.pullRequest),
                  .optional(request.configOverride)])
        let id: Int64 = try row.first!.decode("id")
        do {
            try await context.redis.xadd(context.keys.requests, fields: [("request", RedisArgument(id))])
        } catch {
            context.logger.warning("request stored but not streamed; the gatekeeper sweep will pick it up", metadata: ["request": "\(id)", "error": "\(error)"])
        }
        return id
    }
}
