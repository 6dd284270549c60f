import ConveyorCore
import ConveyorModel
import ConveyorPostgres
import Foundation

/// The hub's statements on `jobs`, `builds` (locking) and `job_events`. Lock order is always the
/// build first, then its jobs by id, so hubs and API actions never deadlock each other.
enum JobStore {
    /// Locks the build of `job` and returns its id; nil when the job doesn't exist.
    static func lockBuild(ofJob job: Int64, on connection: PostgresConnection) async throws -> Int64? {
        try await connection.query("SELECT id FROM builds WHERE id = (SELECT build_id FROM jobs WHERE id = $1) FOR UPDATE", [.int(job)])
            .first?["id"].int64
    }

    /// Locks a build by id; false when it doesn't exist.
    static func lockBuild(_ build: Int64, on connection: PostgresConnection) async throws -> Bool {
        try await connection.query("SELECT id FROM builds WHERE id = $1 FOR UPDATE", [.int(build)]).first != nil
    }

    static func lockJob(_ id: Int64, on connection: PostgresConnection) async throws -> JobRow? {
        try await connection.query("SELECT \(JobRow.columns) FROM \(JobRow.joins) WHERE j.id = $1 FOR UPDATE OF j", [.int(id)])
            .first.map(JobRow.init)
    }

    /// Every job of a build, locked, in id order.
    static func lockJobs(ofBuild build: Int64, on connection: PostgresConnection) async throws -> [JobRow] {
        try await connection.query("SELECT \(JobRow.columns) FROM \(JobRow.joins) WHERE j.build_id = $1 ORDER BY j.id FOR UPDATE OF j",
                                   [.int(build)]).rows.map(JobRow.init)
    }

    /// Every job of a build, unlocked: with the build row locked no other transition can change them.
    static func jobs(ofBuild build: Int64, on connection: PostgresConnection) async throws -> [JobRow] {
        try await connection.query("SELECT \(JobRow.columns) FROM \(JobRow.joins) WHERE j.build_id = $1 ORDER BY j.id", [.int(build)])
            .rows.map(JobRow.init)
    }

    /// The audit row: every event, applied or not, with why it was ignored.
    static func record(job: Int64, event: JobEvent, worker: String?, applied: Bool, note: String?, on connection: PostgresConnection) async throws {
        _ = try await connection.query("""
            INSERT INTO job_events (job_id, attempt, seq, kind, applied, note, payload) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
            """, [.int(job), .int(event.attempt), .int(event.seq), .text(event.kind.rawValue), .bool(applied), .optional(note),
                  .text(payload(event: event, worker: worker))])
    }

    /// The audit row's `payload`: the event as JSON, plus the worker that sent it.
    /// The same keys as `JobEvent`'s `Codable` form (absent values left out), written directly.
    static func payload(event: JobEvent, worker: String?) -> String {
        var payload: [String: JSONScalar] = ["kind": .string(event.kind.rawValue), "attempt": .int(Int64(event.attempt)),
                                             "seq": .int(Int64(event.seq)), "at": .int(event.at)]
        if let result = event.result { payload["result"] = .string(result.rawValue) }
        if let reason = event.reason { payload["reason"] = .string(reason) }
        if let receivedAt = event.receivedAt { payload["receivedAt"] = .int(receivedAt) }
        if let startedAt = event.startedAt { payload["startedAt"] = .int(startedAt) }
        if let worker { payload["worker"] = .string(worker) }
        return String(decoding: JSONScalar.encode(payload), as: UTF8.self)
    }

    /// Stores a record and the worker the job remembers (`JobTransition.worker(after:…)`).
    static func save(job: Int64, record: JobRecord, worker: String?, on connection: PostgresConnection) async throws {
        _ = try await connection.query("""
            UPDATE jobs SET state = $2, attempt = $3, last_seq = $4,
                queued_at = to_timestamp($5::bigint / 1000.0), received_at = to_timestamp($6::bigint / 1000.0),
                started_at = to_timestamp($7::bigint / 1000.0), finished_at = to_timestamp($8::bigint / 1000.0),
                finished_reason = $9, worker = $10
            WHERE id = $1
            """, [.int(job), .text(record.state.rawValue), .int(record.attempt), .int(record.lastSeq),
                  .optional(record.queuedAt), .optional(record.receivedAt), .optional(record.startedAt), .optional(record.finishedAt),
                  .optional(record.finishedReason), .optional(worker)])
    }
}
