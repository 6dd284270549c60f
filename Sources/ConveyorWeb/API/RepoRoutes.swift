import ConveyorCore
import Hummingbird

/// `PATCH /api/v1/repos/{owner}/{repo}` with `RepoPatchBody`: makes a repository public or
/// private (docs/api.md#authentication). Needs the token.
struct RepoRoutes: Sendable {
    let context: NodeContext
    let access: Access

    func register(on router: Router<WebContext>) {
        router.patch("/api/v1/repos/:owner/:repo") { request, ctx -> RepoJSON in
            try access.requireWrite(request)
            let slug = try Slug.make(owner: ctx.parameters.get("owner"), repo: ctx.parameters.get("repo"))
            let body = try await request.decode(as: RepoPatchBody.self, context: ctx)
            guard let row = try await context.postgres.query("""
                UPDATE repositories SET private = COALESCE($2, private) WHERE slug = $1 RETURNING id, slug, url, private
                """, [.text(slug), body.private.map { .bool($0) } ?? .null]).first else {
                throw APIError(.notFound, "unknown repository \(slug)")
            }
            return RepoJSON(id: try row.decode("id"), slug: try row.decode("slug"), private: try row.decode("private"), url: try row.decode("url"), lastBuild: nil)
        }
    }
}
