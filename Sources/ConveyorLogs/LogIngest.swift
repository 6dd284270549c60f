import ConveyorCore
import ConveyorPostgres
import ConveyorRedis
import Logging

/// The `cv:logs` handler: stores a batch of parts in one transaction, then republishes the parts
/// that were new to `cv:events` (`log:part`), then lets the consumer ack the batch.
///
/// Idempotent: `(job, attempt, number)` is unique in `log_parts`, and a part whose number is
/// already aggregated into `logs` is ignored too, so a redelivered part is stored and published
/// once. The `logs` rows of the batch are locked first, in key order: that serializes ingest per
/// log across nodes (exact byte accounting for the limit) and orders it against aggregation.
struct LogIngest: Sendable {
    let context: NodeContext
    let configuration: LogsConfiguration
    let metrics: LogsMetrics

    /// Handles one batch; returns every id to ack (malformed entries included: retrying can't fix them).
    func handle(_ batch: [(stream: String, entry: StreamEntry)]) async throws -> [(stream: String, id: String)] {
        var parts: [LogPart] = []
        var seen = Set<PartKey>()
        for item in batch {
            guard let part = LogPart(item.entry) else {
                if item.entry.fields != nil {
                    metrics.partsMalformed.increment()
                    context.logger.warning("malformed log part dropped", metadata: ["id": "\(item.entry.id)"])
                }
                continue
            }
            if seen.insert(PartKey(part)).inserted { parts.append(part) } else { metrics.partsDuplicate.increment() }
        }
        let fresh = parts.isEmpty ? [] : try await store(parts)
        try await publish(fresh)
        return batch.map { ($0.stream, $0.entry.id) }
    }

    /// Inserts the parts the limit allows; returns those that were new, in batch order.
    func store(_ parts: [LogPart]) async throws -> [LogPart] {
        let logs = Array(Set(parts.map(LogKey.init))).sorted()
        let result = try await context.postgres.transaction { connection -> (fresh: [LogPart], accepted: Int, dropped: [LogKey: Int]) in
            let stored = try await lock(logs, on: connection)
            let (accepted, dropped) = admit(parts, stored: stored)
            var inserted = Set<PartKey>()
            for chunk in accepted.chunked(by: 100) {
                inserted.formUnion(try await insert(chunk, on: connection))
            }
            let fresh = accepted.filter { inserted.contains(PartKey($0)) }
            try await record(fresh, dropped: dropped, on: connection)
            return (fresh, accepted.count, dropped)
        }
        for (log, count) in result.dropped {
            metrics.partsDropped.increment(by: Int64(count))
            context.logger.warning("log limit reached: parts dropped", metadata: [
                "job": "\(log.job)", "attempt": "\(log.attempt)", "parts": "\(count)", "limit": "\(configuration.maxLogBytes)"])
        }
        metrics.partsDuplicate.increment(by: Int64(result.accepted - result.fresh.count))
        metrics.partsIngested.increment(by: Int64(result.fresh.count))
        metrics.bytesIngested.increment(by: Int64(result.fresh.reduce(0) { $0 + $1.content.count }))
        return result.fresh
    }

    /// Creates missing `logs` rows, then locks all of them in key order; returns bytes stored so far.
    private func lock(_ logs: [LogKey], on connection: PostgresConnection) async throws -> [LogKey: Int] {
        let jobs = PostgresValue.array(logs.map(\.job))
        let attempts = PostgresValue.array(logs.map(\.attempt))
        _ = try await connection.query("""
            INSERT INTO logs (job_id, attempt)
            SELECT * FROM unnest($1::bigint[], $2::int[]) ORDER BY 1, 2
            ON CONFLICT DO NOTHING
            """, [jobs, attempts])
        let rows = try await connection.query("""
            SELECT job_id, attempt, ingested_bytes FROM logs
            WHERE (job_id, attempt) IN (SELECT * FROM unnest($1::bigint[], $2::int[]))
            ORDER BY job_id, attempt FOR UPDATE
            """, [jobs, attempts]).rows
        var stored: [LogKey: Int] = [:]
        for row in rows {
            stored[LogKey(job: try row.decode("job_id"), attempt: try row.decode("attempt"))] = try row.decode("ingested_bytes")
        }
        return stored
    }

    /// Applies the per-attempt byte limit: parts beyond it are dropped; a final part is cut to fit
    /// (its own margin) so the log still learns it is complete.
    private func admit(_ parts: [LogPart], stored: [LogKey: Int]) -> (accepted: [LogPart], dropped: [LogKey: Int]) {
        var used = stored
        var accepted: [LogPart] = []
        var dropped: [LogKey: Int] = [:]
        let limit = configuration.maxLogBytes + configuration.limitMargin
        for var part in parts {
            let key = LogKey(part)
            let size = used[key, default: 0]
            if size + part.content.count > limit {
                guard part.final else { dropped[key, default: 0] += 1; continue }
                part.content = Array(part.content.prefix(max(0, limit + configuration.limitMargin - size)))
            }
            used[key] = size + part.content.count
            accepted.append(part)
        }
        return (accepted, dropped)
    }

    /// One multi-row insert; a part already stored, or already aggregated, is skipped.
    private func insert(_ parts: ArraySlice<LogPart>, on connection: PostgresConnection) async throws -> Set<PartKey> {
        var values: [String] = []
        var params: [PostgresValue] = []
        for part in parts {
            let n = params.count
            values.append("($\(n + 1)::bigint, $\(n + 2)::int, $\(n + 3)::int, $\(n + 4)::bytea, $\(n + 5)::bool)")
            params += [.int(part.job), .int(part.attempt), .int(part.number), .bytes(part.content), .bool(part.final)]
        }
        let rows = try await connection.query("""
            INSERT INTO log_parts (job_id, attempt, number, content, final)
            SELECT v.job_id, v.attempt, v.number, v.content, v.final
            FROM (VALUES \(values.joined(separator: ", "))) AS v(job_id, attempt, number, content, final)
            JOIN logs l ON l.job_id = v.job_id AND l.attempt = v.attempt
            WHERE NOT (v.number = ANY(l.part_numbers))
            ON CONFLICT DO NOTHING
            RETURNING job_id, attempt, number
            """, params).rows
        return Set(try rows.map { PartKey(job: try $0.decode("job_id"), attempt: try $0.decode("attempt"), number: try $0.decode("number")) })
    }

    /// Updates each log's accounting and schedules its aggregation: the delay after a final part,
    /// otherwise the sweep once no part arrived for a while.
    private func record(_ fresh: [LogPart], dropped: [LogKey: Int], on connection: PostgresConnection) async throws {
        var bytes: [LogKey: Int] = [:]
        var finals: [LogKey: Int] = [:]
        for part in fresh {
            bytes[LogKey(part), default: 0] += part.content.count
            if part.final { finals[LogKey(part)] = part.number }
        }
        let keys = Set(bytes.keys).union(dropped.keys).sorted()
        if keys.isEmpty { return }
        _ = try await connection.query("""
            UPDATE logs l SET
                ingested_bytes = l.ingested_bytes + u.bytes,
                dropped_parts = l.dropped_parts + u.dropped,
                final_number = COALESCE(u.final_number, l.final_number),
                last_part_at = CASE WHEN u.fresh THEN now() ELSE l.last_part_at END,
                aggregate_after = CASE
                    WHEN NOT u.fresh THEN l.aggregate_after
                    WHEN COALESCE(u.final_number, l.final_number) IS NOT NULL THEN now() + make_interval(secs => $7)
                    ELSE now() + make_interval(secs => $8) END
            FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::int[], $5::int[], $6::bool[])
                AS u(job_id, attempt, bytes, final_number, dropped, fresh)
            WHERE l.job_id = u.job_id AND l.attempt = u.attempt
            """, [PostgresValue.array(keys.map(\.job)), PostgresValue.array(keys.map(\.attempt)),
                  PostgresValue.array(keys.map { bytes[$0, default: 0] }), PostgresValue.array(keys.map { finals[$0] }),
                  PostgresValue.array(keys.map { dropped[$0, default: 0] }),
                  .array(keys.map { bytes[$0] != nil }),
                  .double(configuration.aggregationDelaySeconds), .double(configuration.sweepAfterSeconds)])
    }

    /// Fans the new parts out to live viewers, in one pipeline.
    private func publish(_ parts: [LogPart]) async throws {
        try await context.events.publish(parts.map { (LogPartEvent.type, LogPartEvent.data($0)) })
    }
}
