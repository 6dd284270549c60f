import ConveyorModel
import ConveyorPostgres

/// A job as the hub reads it: its state-machine record plus what events and slots need.
struct JobRow: Sendable {
    var id: Int64
    var buildID: Int64
    var number: String
    var stageIndex: Int
    var allowFailure: Bool
    var queue: String
    var priority: Int
    var worker: String?
    var createdMillis: Int64
    var repo: String
    var owner: String
    var record: JobRecord

    /// Columns for `init(_:)`; `j` is `jobs`, `r` its repository, `o` its owner.
    static let columns = """
        j.id, j.build_id, j.number, j.stage_index, j.allow_failure, j.queue, j.priority, j.worker, j.state, j.attempt,
        j.last_seq, j.finished_reason, r.slug, o.login,
        round(extract(epoch FROM j.created_at) * 1000)::bigint AS created_ms,
        round(extract(epoch FROM j.queued_at) * 1000)::bigint AS queued_ms,
        round(extract(epoch FROM j.received_at) * 1000)::bigint AS received_ms,
        round(extract(epoch FROM j.started_at) * 1000)::bigint AS started_ms,
        round(extract(epoch FROM j.finished_at) * 1000)::bigint AS finished_ms
        """
    static let joins = "jobs j JOIN repositories r ON r.id = j.repository_id JOIN owners o ON o.id = j.owner_id"

    init(_ row: PostgresRow) throws {
        id = try row.decode("id")
        buildID = try row.decode("build_id")
        number = try row.decode("number")
        stageIndex = try row.decode("stage_index")
        allowFailure = try row.decode("allow_failure")
        queue = try row.decode("queue")
        priority = try row.decode("priority")
        worker = try row.decode("worker")
        createdMillis = try row.decode("created_ms")
        repo = try row.decode("slug")
        owner = try row.decode("login")
        let stateText: String = try row.decode("state")
        guard let state = JobState(rawValue: stateText) else {
            throw PostgresError(code: .decoding, message: "job \(id): unknown state '\(stateText)'")
        }
        record = JobRecord(state: state, attempt: try row.decode("attempt"), lastSeq: try row.decode("last_seq"),
                           queuedAt: try row.decode("queued_ms"), receivedAt: try row.decode("received_ms"),
                           startedAt: try row.decode("started_ms"), finishedAt: try row.decode("finished_ms"),
                           finishedReason: try row.decode("finished_reason"))
    }

    var view: BuildJobView {
        BuildJobView(id: id, state: record.state, allowFailure: allowFailure, stageIndex: stageIndex)
    }
}
