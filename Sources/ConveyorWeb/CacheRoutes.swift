import ConveyorCache
import ConveyorCore
import ConveyorHTTPClient
import Hummingbird

/// `GET/DELETE /api/v1/repos/{owner}/{name}/caches[?branch=NAME]`: a repository's build caches, in the
/// shape of Travis API v3's (docs/cache.md). A delete removes the rows and the archives; it needs the
/// API token.
struct CacheRoutes: Sendable {
    let context: NodeContext
    let access: Access
    /// Where this node deletes archives; nil when caching is off here (rows are still removed).
    let store: CacheStore?

    struct Cache: Codable, Sendable {
        var branch: String
        var name: String
        var size: Int64
        var lastModified: String
        var store: String

        enum CodingKeys: String, CodingKey {
            case branch, name, size, store
            case lastModified = "last_modified"
        }
    }

    struct CacheList: Codable, Sendable, ResponseEncodable {
        var repo: String
        var caches: [Cache]
        /// Archives a delete could not remove (the rows are gone all the same).
        var errors: [String]?
    }

    /// The store of this node's settings; nil (logged) when it cannot be made.
    static func store(context: NodeContext, http: CurlHTTPClient?) -> CacheStore? {
        do {
            return try CacheStore.make(settings: context.settings, http: http)
        } catch {
            context.logger.warning("build cache archives cannot be deleted from this node", metadata: ["error": "\(error)"])
            return nil
        }
    }

    func register<C: RequestContext>(on router: Router<C>) {
        let repos = CronRoutes(context: context, access: access)
        router.get("/api/v1/repos/:owner/:repo/caches") { request, ctx -> CacheList in
            let repository = try await repos.repositoryID(ctx, caller: try access.caller(request))
            let entries = try await CacheRecords(postgres: context.postgres).list(repository: repository, branch: try branch(request))
            return CacheList(repo: Self.slug(ctx), caches: entries.map(Self.cache))
        }
        router.delete("/api/v1/repos/:owner/:repo/caches") { request, ctx -> CacheList in
            try access.requireWrite(request)
            let repository = try await repos.repositoryID(ctx)
            let removed = try await CacheRecords(postgres: context.postgres).remove(repository: repository, branch: try branch(request))
            var errors: [String] = []
            for entry in removed {
                guard let store, store.kind == entry.store else {
                    errors.append("\(entry.branch)/\(entry.slug): kept in the \(entry.store) store, which this node does not use; remove it there")
                    continue
                }
                do {
                    try await store.delete(key: entry.storageKey)
                } catch {
                    context.logger.warning("cache archive not deleted", metadata: ["key": "\(entry.storageKey)", "error": "\(error)"])
                    errors.append("\(entry.branch)/\(entry.slug): \(error)")
                }
            }
            return CacheList(repo: Self.slug(ctx), caches: removed.map(Self.cache), errors: errors.isEmpty ? nil : errors)
        }
    }

    private func branch(_ request: Request) throws -> String? {
        guard let branch = request.uri.queryParameters.get("branch") else { return nil }
        guard !branch.isEmpty else { throw APIError(.badRequest, "branch must not be empty; leave it out for every branch") }
        return branch
    }

    static func slug(_ ctx: some RequestContext) -> String {
        "\(ctx.parameters.get("owner") ?? "")/\(ctx.parameters.get("repo") ?? "")"
    }

    static func cache(_ entry: CacheRecords.Entry) -> Cache {
        Cache(branch: entry.branch, name: entry.slug, size: entry.size, lastModified: entry.updatedAt, store: entry.store)
    }
}
