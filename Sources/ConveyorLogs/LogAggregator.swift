import ConveyorCore
import ConveyorHTTPClient
import ConveyorPostgres

/// Concatenates a log's parts in number order into `logs.content` and deletes them, in one
/// transaction per log. Due logs are claimed with `FOR UPDATE SKIP LOCKED`, so several logs nodes
/// share the work and never aggregate one log twice at once; ingest locks the same row first, so a
/// part is either aggregated or left for the next round, never lost.
///
/// The common case (nothing aggregated yet, or only parts after the last aggregated one) runs in
/// Postgres without moving the bytes; a late part that belongs between aggregated parts is merged
/// at its place using the stored boundaries (`part_numbers`, `part_offsets`).
struct LogAggregator: Sendable {
    let context: NodeContext
    let configuration: LogsConfiguration
    let metrics: LogsMetrics
    let archive: S3Client?

    /// Aggregates due logs, at most `roundSize`; returns how many were handled.
    @discardableResult
    func round() async throws -> Int {
        var handled = 0
        while handled < configuration.roundSize, try await aggregateNext() { handled += 1 }
        return handled
    }

    /// Aggregates the most overdue log, if any.
    func aggregateNext() async throws -> Bool {
        try await context.postgres.transaction { connection in
            guard let row = try await connection.query("""
                SELECT job_id, attempt, content IS NULL AS empty, purged_at IS NOT NULL AS purged, archive_key,
                       part_numbers[cardinality(part_numbers)] AS last_stored
                FROM logs WHERE aggregate_after <= now()
                ORDER BY aggregate_after LIMIT 1 FOR UPDATE SKIP LOCKED
                """).first else { return false }
            let job: Int64 = try row.decode("job_id")
            let attempt: Int = try row.decode("attempt")
            let key: [PostgresValue] = [.int(job), .int(attempt)]
            let first = try await connection.query(
                "SELECT min(number) AS first FROM log_parts WHERE job_id = $1 AND attempt = $2", key).first?["first"].int
            guard let first else {
                _ = try await connection.query("UPDATE logs SET aggregate_after = NULL WHERE job_id = $1 AND attempt = $2", key)
                return true
            }
            if row["purged"].bool == true {
                guard let archive, let archiveKey = row["archive_key"].string else {
                    context.logger.warning("late log part for a purged log, but no archive configured; retrying later",
                                           metadata: ["job": "\(job)", "attempt": "\(attempt)"])
                    _ = try await connection.query("""
                        UPDATE logs SET aggregate_after = now() + interval '1 minute' WHERE job_id = $1 AND attempt = $2
                        """, key)
                    return true
                }
                guard let bytes = try await archive.get(key: archiveKey) else {
                    throw LogsError("archived log \(archiveKey) is missing from the archive")
                }
                try await merge(job: job, attempt: attempt, base: bytes, on: connection)
            } else if row["empty"].bool == true || (row["last_stored"].int.map { first > $0 } ?? true) {
                try await append(key, on: connection)
            } else {
                try await merge(job: job, attempt: attempt, base: nil, on: connection)
            }
            metrics.aggregated.increment()
            return true
        }
    }

    /// Every part comes after the aggregated content: append in one statement.
    private func append(_ key: [PostgresValue], on connection: PostgresConnection) async throws {
        _ = try await connection.query("""
            WITH gone AS (
                DELETE FROM log_parts WHERE job_id = $1 AND attempt = $2 RETURNING number, content
            ), ordered AS (
                SELECT number, content, sum(octet_length(content)) OVER (ORDER BY number) - octet_length(content) AS rel FROM gone
            )
            UPDATE logs l SET
                content = COALESCE(l.content, ''::bytea)
                    || COALESCE((SELECT string_agg(content, ''::bytea ORDER BY number) FROM ordered), ''::bytea),
                part_numbers = l.part_numbers || COALESCE((SELECT array_agg(number ORDER BY number) FROM ordered), '{}'),
                part_offsets = l.part_offsets
                    || COALESCE((SELECT array_agg(rel + COALESCE(octet_length(l.content), 0) ORDER BY number) FROM ordered), '{}'),
                byte_size = COALESCE(octet_length(l.content), 0) + COALESCE((SELECT sum(octet_length(content)) FROM ordered), 0),
                parts = cardinality(l.part_numbers) + (SELECT count(*) FROM ordered),
                \(Self.aggregatedColumns)
            WHERE l.job_id = $1 AND l.attempt = $2
            """, key)
    }

    /// A part belongs between aggregated ones (or the content is in the archive): merge in memory.
    private func merge(job: Int64, attempt: Int, base archived: [UInt8]?, on connection: PostgresConnection) async throws {
        let key: [PostgresValue] = [.int(job), .int(attempt)]
        guard let row = try await connection.query(
            "SELECT content, part_numbers, part_offsets FROM logs WHERE job_id = $1 AND attempt = $2", key).first else { return }
        let base = LogLayout(content: archived ?? row["content"].bytes ?? [], numbers: PostgresArrays.ints(row["part_numbers"]),
                             offsets: PostgresArrays.ints(row["part_offsets"]))
        guard base.offsets.count == base.numbers.count, base.offsets.allSatisfy({ $0 <= base.content.count }) else {
            throw LogsError("log \(job)/\(attempt): stored part boundaries do not match its content")
        }
        let parts = try await connection.query(
            "SELECT number, content FROM log_parts WHERE job_id = $1 AND attempt = $2 ORDER BY number", key).rows
        let incoming = try parts.map { (number: try $0.decode("number", as: Int.self), content: $0["content"].bytes ?? []) }
        let merged = base.merging(incoming)
        _ = try await connection.query("""
            UPDATE logs SET content = $3, part_numbers = $4::int[], part_offsets = $5::bigint[], byte_size = $6, parts = $7,
                purged_at = NULL, \(Self.aggregatedColumns)
            WHERE job_id = $1 AND attempt = $2
            """, key + [.bytes(merged.content), PostgresArrays.literal(merged.numbers), PostgresArrays.literal(merged.offsets),
                        .int(merged.content.count), .int(merged.numbers.count)])
        _ = try await connection.query("DELETE FROM log_parts WHERE job_id = $1 AND attempt = $2 AND number = ANY($3::int[])",
                                   key + [PostgresArrays.literal(incoming.map(\.number))])
    }

    /// New content: due for (re-)archiving, its previous archive no longer counts.
    static let aggregatedColumns = """
        aggregated_at = now(), aggregate_after = NULL, content_version = content_version + 1,
        archive_verified = false, archived_at = NULL, archive_retry_at = NULL, archive_attempts = 0, archive_error = NULL
        """
}

/// A logs role failure with a message for operators.
public struct LogsError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
