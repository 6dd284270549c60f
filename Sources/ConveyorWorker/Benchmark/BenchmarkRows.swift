import ConveyorCore
import ConveyorModel
import Foundation

/// Inserts one owner, repository and build with `jobs` queued jobs, for the claim-to-start benchmark.
enum BenchmarkRows {
    static func insert(context: NodeContext, owner: String, jobs: Int, queue: String) async throws -> [Int64] {
        let pg = context.postgres
        let ownerID = try await pg.query("INSERT INTO owners (login) VALUES ($1) RETURNING id", owner).rows[0].decode("id", as: Int64.self)
        let repoID = try await pg.query("INSERT INTO repositories (owner_id, slug, url) VALUES ($1, $2, 'file:///dev/null') RETURNING id",
                                        ownerID, "\(owner)/bench").rows[0].decode("id", as: Int64.self)
        let sha = String(repeating: "0", count: 40)
        let requestID = try await pg.query("INSERT INTO requests (repository_id, event_type, branch, sha) VALUES ($1, 'api', 'main', $2) RETURNING id",
                                           repoID, sha).rows[0].decode("id", as: Int64.self)
        let buildID = try await pg.query("""
            INSERT INTO builds (repository_id, request_id, number, event_type, branch, sha, config)
            VALUES ($1, $2, 1, 'api', 'main', $3, '{}') RETURNING id
            """, repoID, requestID, sha).rows[0].decode("id", as: Int64.self)
        let config = String(decoding: try JSONEncoder().encode(JobSpec(language: "shell")), as: UTF8.self)
        var ids: [Int64] = []
        for position in 1...max(1, jobs) {
            ids.append(try await pg.query("""
                INSERT INTO jobs (build_id, repository_id, owner_id, number, position, state, attempt, queue, config)
                VALUES ($1, $2, $3, $4, $5, 'queued', 1, $6, $7::jsonb) RETURNING id
                """, buildID, repoID, ownerID, "1.\(position)", position, queue, config).rows[0].decode("id", as: Int64.self))
        }
        return ids
    }
}
