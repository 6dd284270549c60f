import ConveyorCore
import ConveyorHTTPClient
import ConveyorPostgres

/// Reads logs for the API, the CLI and live streams. Whether a log is still in parts, aggregated,
/// or purged to the archive, readers get the same bytes: aggregated content (or the archived copy)
/// merged with any parts not aggregated yet, in part-number order, read from one snapshot.
public struct LogStore: Sendable {
    let context: NodeContext
    let archive: S3Client?

    public init(context: NodeContext, archive: S3Client?) {
        self.context = context
        self.archive = archive
    }

    /// The log of `attempt` (nil: the job's current attempt); nil when nothing of it exists.
    public func read(job: Int64, attempt: Int? = nil) async throws -> LogSnapshot? {
        guard let attempt = try await resolve(job: job, attempt: attempt), let state = try await load(job: job, attempt: attempt) else {
            return nil
        }
        let layout = state.base.merging(state.parts.map { ($0.number, $0.content) })
        return LogSnapshot(job: job, attempt: attempt, content: layout.content, lastPart: layout.lastNumber, final: state.final,
                           source: state.source)
    }

    /// The parts numbered above `number`, in order: what a live viewer that has seen up to `number`
    /// is missing. Aggregated bytes after `number` come as one synthetic part carrying the highest
    /// aggregated number (exact: aggregated content keeps its part boundaries).
    public func parts(job: Int64, attempt: Int? = nil, after number: Int) async throws -> [LogPart] {
        guard let attempt = try await resolve(job: job, attempt: attempt), let state = try await load(job: job, attempt: attempt) else {
            return []
        }
        var result: [LogPart] = []
        let aggregated = state.base.bytes(after: number)
        if let last = state.base.lastNumber, last > number {
            let isFinal = state.finalNumber == last
            result.append(LogPart(job: job, attempt: attempt, number: last, final: isFinal, content: Array(aggregated)))
        }
        let known = Set(state.base.numbers)
        for part in state.parts where part.number > number && !known.contains(part.number) {
            result.append(part)
        }
        return result.sorted { $0.number < $1.number }
    }

    /// The job's current attempt, or the latest attempt with a log when the job row is unknown.
    func resolve(job: Int64, attempt: Int?) async throws -> Int? {
        if let attempt { return attempt }
        let row = try await context.postgres.query("""
            SELECT COALESCE((SELECT attempt FROM jobs WHERE id = $1),
                            (SELECT max(attempt) FROM logs WHERE job_id = $1),
                            (SELECT max(attempt) FROM log_parts WHERE job_id = $1)) AS attempt
            """, [.int(job)]).first
        return row?["attempt"].int
    }

    struct Stored: Sendable {
        var base: LogLayout
        var parts: [LogPart]
        var final: Bool
        var finalNumber: Int?
        var source: LogSnapshot.Source
    }

    /// The log row and its parts from one snapshot, so an aggregation in between is seen whole or not at all.
    func load(job: Int64, attempt: Int) async throws -> Stored? {
        let key: [PostgresValue] = [.int(job), .int(attempt)]
        let (row, partRows) = try await context.postgres.transaction(isolation: .repeatableRead) { connection in
            let row = try await connection.query("""
                SELECT content, part_numbers, part_offsets, final_number, purged_at IS NOT NULL AS purged, archive_key
                FROM logs WHERE job_id = $1 AND attempt = $2
                """, key).first
            let parts = try await connection.query(
                "SELECT number, content, final FROM log_parts WHERE job_id = $1 AND attempt = $2 ORDER BY number", key).rows
            return (row, parts)
        }
        let parts = try partRows.map {
            LogPart(job: job, attempt: attempt, number: try $0.decode("number"), final: $0["final"].bool ?? false, content: $0["content"].bytes ?? [])
        }
        guard let row else {
            if parts.isEmpty { return nil }
            return Stored(base: LogLayout(), parts: parts, final: parts.contains(where: \.final), finalNumber: parts.first(where: \.final)?.number,
                          source: .parts)
        }
        let numbers = PostgresArrays.ints(row["part_numbers"])
        if numbers.isEmpty && parts.isEmpty { return nil }
        var source = LogSnapshot.Source.aggregated
        var content = row["content"].bytes ?? []
        if row["purged"].bool == true {
            guard let archive else { throw LogsError("log \(job)/\(attempt) is archived, but no archive is configured") }
            guard let key = row["archive_key"].string, let bytes = try await archive.get(key: key) else {
                throw LogsError("log \(job)/\(attempt) is purged, but its archive is missing")
            }
            content = bytes
            source = .archive
        } else if numbers.isEmpty {
            source = .parts
        }
        let finalNumber = row["final_number"].int ?? parts.first(where: \.final)?.number
        return Stored(base: LogLayout(content: content, numbers: numbers, offsets: PostgresArrays.ints(row["part_offsets"])), parts: parts,
                      final: finalNumber != nil, finalNumber: finalNumber, source: source)
    }
}
