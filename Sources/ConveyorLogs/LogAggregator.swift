import ConveyorCore
import ConveyorHTTPClient
import ConveyorPostgres

/// Concatenates a log's parts in number order into `logs.content` and deletes them, many logs per
/// transaction. Due logs are claimed with `FOR UPDATE SKIP LOCKED`, so several logs nodes
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

    /// Aggregates due logs, `roundSize` per transaction, for as long as full batches keep coming (at
    /// most `roundBudget`); returns how many were handled.
    @discardableResult
    func round(roundBudget: Duration = .seconds(2)) async throws -> Int {
        let deadline = ContinuousClock.now + roundBudget
        var handled = 0
        while true {
            let count = try await aggregateBatch(limit: configuration.roundSize)
            handled += count
            if count < configuration.roundSize || ContinuousClock.now >= deadline { return handled }
        }
    }

    /// Aggregates up to `limit` due logs in one transaction: the common case (only parts after the
    /// last aggregated one) with one set-based statement for all of them; a log with a part to
    /// merge in between, or purged to the archive, the one-log way.
    func aggregateBatch(limit: Int) async throws -> Int {
        try await context.postgres.transaction { connection in
            let due = try await connection.query("""
                SELECT job_id, attempt, content IS NULL AS empty, purged_at IS NOT NULL AS purged,
                       part_numbers[cardinality(part_numbers)] AS last_stored
                FROM logs WHERE aggregate_after <= now()
                ORDER BY aggregate_after LIMIT $1 FOR UPDATE SKIP LOCKED
                """, [.int(limit)]).rows
            if due.isEmpty { return 0 }
            let keys = try due.map { LogKey(job: try $0.decode("job_id"), attempt: try $0.decode("attempt")) }
            var first: [LogKey: Int] = [:]
            for row in try await connection.query("""
                SELECT job_id, attempt, min(number) AS first FROM log_parts
                WHERE (job_id, attempt) IN (SELECT * FROM unnest($1::bigint[], $2::int[])) GROUP BY job_id, attempt
                """, [PostgresValue.array(keys.map(\.job)), PostgresValue.array(keys.map(\.attempt))]).rows {
                first[LogKey(job: try row.decode("job_id"), attempt: try row.decode("attempt"))] = try row.decode("first")
            }
            var empty: [LogKey] = []
            var appendable: [LogKey] = []
            var oneByOne: [LogKey] = []
            for (key, row) in zip(keys, due) {
                guard let firstNumber = first[key] else { empty.append(key); continue }
                if row["purged"].bool == true {
                    oneByOne.append(key)
                } else if row["empty"].bool == true || (row["last_stored"].int.map { firstNumber > $0 } ?? true) {
                    appendable.append(key)
                } else {
                    oneByOne.append(key)
                }
            }
            if !empty.isEmpty {
                _ = try await connection.query("""
                    UPDATE logs SET aggregate_after = NULL WHERE (job_id, attempt) IN (SELECT * FROM unnest($1::bigint[], $2::int[]))
                    """, [PostgresValue.array(empty.map(\.job)), PostgresValue.array(empty.map(\.attempt))])
            }
            if !appendable.isEmpty { try await appendAll(appendable, on: connection) }
            for key in oneByOne { try await aggregate(key, on: connection) }
            metrics.aggregated.increment(by: Int64(appendable.count + oneByOne.count))
            return due.count
        }
    }

    /// The one-log path for a locked log that has parts: a merge, or a purged log's archive first.
    private func aggregate(_ log: LogKey, on connection: PostgresConnection) async throws {
        let key: [PostgresValue] = [.int(log.job), .int(log.attempt)]
        guard let row = try await connection.query(
            "SELECT purged_at IS NOT NULL AS purged, archive_key FROM logs WHERE job_id = $1 AND attempt = $2", key).first else { return }
        if row["purged"].bool == true {
            guard let archive, let archiveKey = row["archive_key"].string else {
                context.logger.warning("late log part for a purged log, but no archive configured; retrying later",
                                       metadata: ["job": "\(log.job)", "attempt": "\(log.attempt)"])
                _ = try await connection.query("""
                    UPDATE logs SET aggregate_after = now() + interval '1 minute' WHERE job_id = $1 AND attempt = $2
                    """, key)
                return
            }
            guard let bytes = try await archive.get(key: archiveKey) else {
                throw LogsError("archived log \(archiveKey) is missing from the archive")
            }
            try await merge(job: log.job, attempt: log.attempt, base: bytes, on: connection)
        } else {
            try await merge(job: log.job, attempt: log.attempt, base: nil, on: connection)
        }
    }

    /// `append` for many logs at once: each log's parts, in number order, after its content.
    private func appendAll(_ logs: [LogKey], on connection: PostgresConnection) async throws {
        _ = try await connection.query("""
            WITH targets AS (
                SELECT * FROM unnest($1::bigint[], $2::int[]) AS t(job_id, attempt)
            ), gone AS (
                DELETE FROM log_parts p USING targets t WHERE p.job_id = t.job_id AND p.attempt = t.attempt
                RETURNING p.job_id, p.attempt, p.number, p.content
            ), ordered AS (
                SELECT job_id, attempt, number, content,
                       sum(octet_length(content)) OVER (PARTITION BY job_id, attempt ORDER BY number) - octet_length(content) AS rel
                FROM gone
            ), agg AS (
                SELECT job_id, attempt, string_agg(content, ''::bytea ORDER BY number) AS content,
                       array_agg(number ORDER BY number) AS numbers, array_agg(rel ORDER BY number) AS rels,
                       sum(octet_length(content)) AS bytes, count(*) AS n
                FROM ordered GROUP BY job_id, attempt
            )
            UPDATE logs l SET
                content = COALESCE(l.content, ''::bytea) || agg.content,
                part_numbers = l.part_numbers || agg.numbers,
                part_offsets = l.part_offsets
                    || (SELECT array_agg(u.rel + COALESCE(octet_length(l.content), 0) ORDER BY u.ord) FROM unnest(agg.rels) WITH ORDINALITY AS u(rel, ord)),
                byte_size = COALESCE(octet_length(l.content), 0) + agg.bytes,
                parts = cardinality(l.part_numbers) + agg.n,
                \(Self.aggregatedColumns)
            FROM agg WHERE l.job_id = agg.job_id AND l.attempt = agg.attempt
            """, [PostgresValue.array(logs.map(\.job)), PostgresValue.array(logs.map(\.attempt))])
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
            """, key + [.bytes(merged.content), PostgresValue.array(merged.numbers), PostgresValue.array(merged.offsets),
                        .int(merged.content.count), .int(merged.numbers.count)])
        _ = try await connection.query("DELETE FROM log_parts WHERE job_id = $1 AND attempt = $2 AND number = ANY($3::int[])",
                                   key + [PostgresValue.array(incoming.map(\.number))])
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
