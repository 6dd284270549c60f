import ConveyorModel
import ConveyorPostgres

/// A build as the hub reads it (the row is locked by the caller).
struct BuildRow: Sendable {
    var id: Int64
    var number: Int
    var state: BuildState
    var fastFinish: Bool
    var run: Int
    var repo: String
    var owner: String
    var startedMillis: Int64?
    var finishedMillis: Int64?

    static func load(_ id: Int64, on connection: PostgresConnection) async throws -> BuildRow? {
        guard let row = try await connection.query("""
            SELECT b.id, b.number, b.state, b.fast_finish, b.run, r.slug, o.login,
                   round(extract(epoch FROM b.started_at) * 1000)::bigint AS started_ms,
                   round(extract(epoch FROM b.finished_at) * 1000)::bigint AS finished_ms
            FROM builds b JOIN repositories r ON r.id = b.repository_id JOIN owners o ON o.id = r.owner_id
            WHERE b.id = $1
            """, [.int(id)]).first else { return nil }
        let stateText: String = try row.decode("state")
        return BuildRow(id: try row.decode("id"), number: try row.decode("number"), state: BuildState(rawValue: stateText) ?? .created,
                        fastFinish: try row.decode("fast_finish"), run: try row.decode("run"), repo: try row.decode("slug"),
                        owner: try row.decode("login"), startedMillis: try row.decode("started_ms"), finishedMillis: try row.decode("finished_ms"))
    }

    var isFinished: Bool { finishedMillis != nil }
}
