import ConveyorCore
import ConveyorModel
import ConveyorPostgres
import Foundation

/// Writes the outcome of a request: a build and its jobs in one transaction, or a rejection.
struct BuildWriter: Sendable {
    let postgres: PostgresClient

    struct CreatedJob: Sendable {
        var id: Int64
        var stageIndex: Int
        var queue: String
        var createdMillis: Int64
    }

    struct CreatedBuild: Sendable {
        var id: Int64
        var number: Int
        var jobs: [CreatedJob]
    }

    /// Creates the build (numbered per repository) and its jobs, and marks the request accepted.
    /// Idempotent: a request that already has a build returns nil.
    func create(request: BuildRequest, expanded: ExpandedBuild, configJSON: String, queues: QueueRules) async throws -> CreatedBuild? {
        try await postgres.transaction { conn in
            // Lock the request: two gatekeepers handling the same entry serialize here.
            let locked = try await conn.query("SELECT state FROM requests WHERE id = $1 FOR UPDATE", [.int(request.id)])
            guard locked.first?["state"].string == "pending" else { return nil }
            // Lock the repository row so build numbers are assigned one at a time.
            _ = try await conn.query("SELECT id FROM repositories WHERE id = $1 FOR UPDATE", [.int(request.repositoryID)])
            let number = try await conn.query("SELECT coalesce(max(number), 0) + 1 AS n FROM builds WHERE repository_id = $1",
                                              [.int(request.repositoryID)]).first?["n"].int ?? 1
            let stages = String(decoding: try JSONEncoder().encode(expanded.stages), as: UTF8.self)
            guard let buildID = try await conn.query("""
                INSERT INTO builds (repository_id, request_id, number, event_type, branch, sha, tag, commit_message, config, fast_finish, stages)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11::jsonb) RETURNING id
                """, [.int(request.repositoryID), .int(request.id), .int(number), .text(request.eventType), .text(request.branch),
                      .text(request.sha), .optional(request.tag), .text(request.commitMessage), .text(configJSON),
                      .bool(expanded.fastFinish), .text(stages)]).first?["id"].int64 else {
                throw PostgresError(code: .server, message: "build insert returned no id")
            }
            let jobs = try await insertJobs(expanded.jobs, build: buildID, number: number, request: request, queues: queues, on: conn)
            let warnings = String(decoding: try JSONEncoder().encode(expanded.warnings), as: UTF8.self)
            _ = try await conn.query("""
                UPDATE requests SET state = 'accepted', result_message = $2, warnings = $3::jsonb, processed_at = now() WHERE id = $1
                """, [.int(request.id), .text("build #\(number) created with \(jobs.count) job(s)"), .text(warnings)])
            return CreatedBuild(id: buildID, number: number, jobs: jobs)
        }
    }

    /// All jobs of the build with one statement (a build may have hundreds), in spec order.
    private func insertJobs(_ specs: [JobSpec], build: Int64, number: Int, request: BuildRequest, queues: QueueRules,
                            on conn: PostgresConnection) async throws -> [CreatedJob] {
        if specs.isEmpty { return [] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let queueNames = specs.map { queues.queue(for: $0) }
        let configs: [String?] = try specs.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let rows = try await conn.query("""
            INSERT INTO jobs (build_id, repository_id, owner_id, number, position, stage, stage_index, queue, allow_failure, config)
            SELECT $1, $2, $3, s.number, s.position, s.stage, s.stage_index, s.queue, s.allow_failure, s.config
            FROM unnest($4::text[], $5::int[], $6::text[], $7::int[], $8::text[], $9::bool[], $10::jsonb[])
                AS s(number, position, stage, stage_index, queue, allow_failure, config)
            RETURNING id, position, (extract(epoch from created_at) * 1000)::bigint AS created_ms
            """, [.int(build), .int(request.repositoryID), .int(request.ownerID),
                  .array(specs.map { Optional("\(number).\($0.number)") }), .array(specs.map(\.number)), .array(specs.map(\.stage)),
                  .array(specs.map(\.stageIndex)), .array(queueNames.map { Optional($0) }), .array(specs.map(\.allowFailure)), .array(configs)]).rows
        var byPosition: [Int: (id: Int64, created: Int64)] = [:]
        for row in rows { byPosition[try row.decode("position")] = (try row.decode("id"), try row.decode("created_ms")) }
        return zip(specs, queueNames).compactMap { spec, queue in
            byPosition[spec.number].map { CreatedJob(id: $0.id, stageIndex: spec.stageIndex, queue: queue, createdMillis: $0.created) }
        }
    }

    /// Marks a request rejected, skipped or errored with a reason a person can act on.
    func finish(request id: Int64, state: String, message: String, warnings: [String] = []) async throws {
        let warningsJSON = String(decoding: try JSONEncoder().encode(warnings), as: UTF8.self)
        try await postgres.query("""
            UPDATE requests SET state = $2, result_message = $3, warnings = $4::jsonb, processed_at = now()
            WHERE id = $1 AND state = 'pending'
            """, [.int(id), .text(state), .text(message), .text(warningsJSON)])
    }
}
