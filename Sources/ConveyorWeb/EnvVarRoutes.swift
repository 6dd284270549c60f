import ConveyorCore
import ConveyorSecrets
import Foundation
import Hummingbird

/// `GET/POST/PATCH/DELETE /api/v1/repos/{owner}/{repo}/env_vars[/{id}]`: the environment variables of
/// the repository settings. A secret value (`"public": false`, the default) is sealed before it is
/// stored and never returned; builds created afterwards get the change. See docs/security.md.
struct EnvVarRoutes: Sendable {
    let context: NodeContext
    let store: EnvVarStore
    let access: Access

    struct EnvVarList: ResponseEncodable {
        var envVars: [EnvVarStore.Listed]
        enum CodingKeys: String, CodingKey { case envVars = "env_vars" }
    }

    struct EnvVarBody: ResponseEncodable {
        var envVar: EnvVarStore.Listed
        enum CodingKeys: String, CodingKey { case envVar = "env_var" }
    }

    struct CreateRequest: Decodable, Sendable {
        var name: String
        var value: String
        var `public`: Bool?
        var branch: String?
    }

    struct UpdateRequest: Decodable, Sendable {
        var value: String?
        var `public`: Bool?
        var branch: PatchField<String> = .unchanged

        enum CodingKeys: String, CodingKey { case value, `public`, branch }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            value = try c.decodeIfPresent(String.self, forKey: .value)
            `public` = try c.decodeIfPresent(Bool.self, forKey: .public)
            branch = try c.patch(.branch)
        }
    }

    struct Deleted: ResponseEncodable {
        var deleted: Int
    }

    func register<C: RequestContext>(on router: Router<C>) {
        let path = "/api/v1/repos/:owner/:repo/env_vars"
        router.get(RouterPath(path)) { request, ctx -> EnvVarList in
            try access.requireWrite(request)
            let repo = try await RepoRef.find(ctx, postgres: context.postgres)
            return EnvVarList(envVars: try await store.list(repository: repo.id))
        }
        router.post(RouterPath(path)) { request, ctx -> EditedResponse<EnvVarBody> in
            try access.requireWrite(request)
            let repo = try await RepoRef.find(ctx, postgres: context.postgres)
            let body = try await request.decode(as: CreateRequest.self, context: ctx)
            let listed = try await secretsCall {
                try await store.set(repository: repo.id, name: body.name, value: body.value, isPublic: body.public ?? false, branch: body.branch)
            }
            return EditedResponse(status: .created, response: EnvVarBody(envVar: listed))
        }
        router.patch(RouterPath(path + "/:id")) { request, ctx -> EnvVarBody in
            try access.requireWrite(request)
            let repo = try await RepoRef.find(ctx, postgres: context.postgres)
            let id = try ctx.parameters.require("id", as: Int64.self)
            let body = try await request.decode(as: UpdateRequest.self, context: ctx)
            let branch: String?? = if case .set(let value) = body.branch { .some(value) } else { .none }
            guard let listed = try await secretsCall({
                try await store.update(repository: repo.id, id: id, value: body.value, isPublic: body.public, branch: branch)
            }) else { throw APIError(.notFound, "no env var \(id) in \(repo.slug)") }
            return EnvVarBody(envVar: listed)
        }
        router.delete(RouterPath(path + "/:id")) { request, ctx -> Deleted in
            try access.requireWrite(request)
            let repo = try await RepoRef.find(ctx, postgres: context.postgres)
            let id = try ctx.parameters.require("id", as: Int64.self)
            let deleted = try await store.delete(repository: repo.id, id: id)
            if deleted == 0 { throw APIError(.notFound, "no env var \(id) in \(repo.slug)") }
            return Deleted(deleted: deleted)
        }
    }

    /// A secrets failure (no cluster key, a bad name) is the caller's to fix: 400 or 503 with its message.
    func secretsCall<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SecretsError {
            let unavailable = error.description.contains("no secrets_key")
            throw APIError(unavailable ? .serviceUnavailable : .badRequest, error.description)
        }
    }
}
