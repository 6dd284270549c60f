import ConveyorCore
import ConveyorHTTPClient
import ConveyorPostgres

/// Uploads aggregated logs to object storage (`jobs/<id>/<attempt>/log.txt`), verified by reading
/// back size and MD5, and purges the content only after a second check of the stored object.
///
/// A log is claimed by setting `archive_retry_at` (a lease, `FOR UPDATE SKIP LOCKED`), so the
/// upload runs outside any transaction. Every write-back is guarded by `content_version`: content
/// that changed meanwhile (a late part) is neither marked archived nor purged, and is archived again.
struct LogArchiver: Sendable {
    let context: NodeContext
    let configuration: LogsConfiguration
    let metrics: LogsMetrics
    let archive: S3Client

    static func key(job: Int64, attempt: Int) -> String { "jobs/\(job)/\(attempt)/log.txt" }

    /// Archives, then purges, due logs; returns how many were handled.
    @discardableResult
    func round() async throws -> (archived: Int, purged: Int) {
        var archived = 0
        for log in try await claim() {
            if try await upload(log) { archived += 1 }
        }
        var purged = 0
        if context.settings.purgeAfterArchive {
            for log in try await purgeCandidates() {
                if try await purge(log) { purged += 1 }
            }
        }
        return (archived, purged)
    }

    struct Claimed: Sendable {
        var job: Int64
        var attempt: Int
        var version: Int
        var attempts: Int
    }

    /// Aggregated, unverified logs whose parts are complete (final, or long quiet), not leased.
    func claim() async throws -> [Claimed] {
        let rows = try await context.postgres.query("""
            UPDATE logs SET archive_retry_at = now() + interval '5 minutes', archive_attempts = archive_attempts + 1
            WHERE (job_id, attempt) IN (
                SELECT job_id, attempt FROM logs
                WHERE NOT archive_verified AND purged_at IS NULL AND aggregated_at IS NOT NULL AND aggregate_after IS NULL
                  AND content IS NOT NULL
                  AND (final_number IS NOT NULL OR last_part_at < now() - make_interval(secs => $2))
                  AND (archive_retry_at IS NULL OR archive_retry_at <= now())
                ORDER BY aggregated_at LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING job_id, attempt, content_version, archive_attempts
            """, [.int(configuration.roundSize), .double(configuration.archiveUnfinishedAfterSeconds)]).rows
        return try rows.map {
            Claimed(job: try $0.decode("job_id"), attempt: try $0.decode("attempt"), version: try $0.decode("content_version"),
                    attempts: try $0.decode("archive_attempts"))
        }
    }

    /// Uploads one claimed log; a failure is recorded and retried with backoff.
    func upload(_ log: Claimed) async throws -> Bool {
        let key: [PostgresValue] = [.int(log.job), .int(log.attempt), .int(log.version)]
        guard let row = try await context.postgres.query("""
            SELECT content FROM logs WHERE job_id = $1 AND attempt = $2 AND content_version = $3 AND content IS NOT NULL
            """, key).first, let content = row["content"].bytes else { return false }
        let objectKey = Self.key(job: log.job, attempt: log.attempt)
        do {
            try await archive.putVerified(key: objectKey, bytes: content)
        } catch {
            metrics.archiveErrors.increment()
            context.logger.warning("log archive failed; will retry", metadata: [
                "job": "\(log.job)", "attempt": "\(log.attempt)", "error": "\(error)"])
            let backoff = min(600, 5 * (1 << min(log.attempts, 7)))
            try await context.postgres.query("""
                UPDATE logs SET archive_retry_at = now() + make_interval(secs => $4), archive_error = $5
                WHERE job_id = $1 AND attempt = $2 AND content_version = $3
                """, key + [.int(backoff), .text("\(error)")])
            return false
        }
        let updated = try await context.postgres.query("""
            UPDATE logs SET archive_key = $4, archived_at = now(), archive_verified = true, archive_retry_at = NULL, archive_error = NULL
            WHERE job_id = $1 AND attempt = $2 AND content_version = $3
            """, key + [.text(objectKey)]).affectedRows
        if updated == 1 { metrics.archived.increment() }
        return updated == 1
    }

    struct PurgeCandidate: Sendable {
        var job: Int64
        var attempt: Int
        var version: Int
        var key: String
        var size: Int
        var md5: String
    }

    /// Verified archives whose content is still in Postgres.
    func purgeCandidates() async throws -> [PurgeCandidate] {
        let rows = try await context.postgres.query("""
            SELECT job_id, attempt, content_version, archive_key, octet_length(content) AS size, md5(content) AS md5 FROM logs
            WHERE archive_verified AND purged_at IS NULL AND content IS NOT NULL AND archive_key IS NOT NULL
            ORDER BY archived_at LIMIT $1
            """, [.int(configuration.roundSize)]).rows
        return try rows.map {
            PurgeCandidate(job: try $0.decode("job_id"), attempt: try $0.decode("attempt"), version: try $0.decode("content_version"),
                           key: try $0.decode("archive_key"), size: try $0.decode("size"), md5: try $0.decode("md5"))
        }
    }

    /// Checks the stored object once more against the content; purges on a match, otherwise marks
    /// the log for archiving again.
    func purge(_ log: PurgeCandidate) async throws -> Bool {
        let key: [PostgresValue] = [.int(log.job), .int(log.attempt), .int(log.version)]
        let stored = try await archive.head(key: log.key)
        guard let stored, stored.size == log.size, stored.etag?.lowercased() == log.md5 else {
            metrics.archiveErrors.increment()
            context.logger.warning("archived log does not match its content; archiving again", metadata: [
                "job": "\(log.job)", "attempt": "\(log.attempt)", "key": "\(log.key)",
                "stored_size": "\(stored.map { String($0.size) } ?? "missing")", "size": "\(log.size)"])
            try await context.postgres.query("""
                UPDATE logs SET archive_verified = false, archived_at = NULL, archive_retry_at = NULL, archive_attempts = 0
                WHERE job_id = $1 AND attempt = $2 AND content_version = $3
                """, key)
            return false
        }
        let updated = try await context.postgres.query("""
            UPDATE logs SET content = NULL, purged_at = now()
            WHERE job_id = $1 AND attempt = $2 AND content_version = $3 AND archive_verified AND content IS NOT NULL
            """, key).affectedRows
        if updated == 1 { metrics.purged.increment() }
        return updated == 1
    }
}
