import ConveyorCore
import ConveyorModel
import ConveyorPostgres

/// The transactional part of cancel and restart, on jobs already locked (build first).
struct ActionSteps {
    let maxAttempts: Int

    /// Cancels the rows that aren't final; the job's cancel key reaches a worker running it, and a
    /// worker that claims it later skips it.
    func cancel(_ rows: [JobRow], build: Int64, reason: String = "canceled by user", on connection: PostgresConnection,
                changes: inout HubChanges) async throws -> Int {
        var before: [Int64: JobState] = [:]
        for row in rows where !row.record.state.isFinal {
            let event = JobEvent(kind: .cancel, attempt: row.record.attempt, seq: 0, at: nowMillis(), reason: reason)
            if try await JobTransition.apply(event, worker: nil, to: row, maxAttempts: maxAttempts, on: connection, changes: &changes) != nil {
                before[row.id] = row.record.state
            }
        }
        if !before.isEmpty {
            try await BuildUpdater(maxAttempts: maxAttempts).recompute(build: build, before: before, on: connection, changes: &changes)
        }
        return before.count
    }

    /// Restarts the final rows as new attempts, reopens the build if its run had finished (a new run
    /// that finishes, and notifies, once), and admits the restarted jobs of the first open stage.
    func restart(_ rows: [JobRow], build: Int64, on connection: PostgresConnection, changes: inout HubChanges) async throws -> Int {
        var before: [Int64: JobState] = [:]
        for row in rows where row.record.state.isFinal {
            let event = JobEvent(kind: .restart, attempt: row.record.attempt, seq: 0, at: nowMillis(), reason: "restarted by user")
            if try await JobTransition.apply(event, worker: nil, to: row, maxAttempts: maxAttempts, on: connection, changes: &changes) != nil {
                before[row.id] = row.record.state
            }
        }
        if before.isEmpty { return 0 }
        let reopened = try await connection.query("""
            UPDATE builds SET state = 'created', started_at = NULL, finished_at = NULL, run = run + 1
            WHERE id = $1 AND finished_at IS NOT NULL RETURNING id
            """, [.int(build)]).first != nil
        if reopened, let row = try await BuildRow.load(build, on: connection) {
            changes.effects.publish("build:restarted", EventPayloads.build(row))
        }
        try await BuildUpdater(maxAttempts: maxAttempts).recompute(build: build, before: before, on: connection, changes: &changes)

        let jobs = try await JobStore.jobs(ofBuild: build, on: connection)
        let firstOpen = jobs.filter { !$0.record.state.isFinal }.map(\.stageIndex).min()
        for job in jobs where before[job.id] != nil && job.stageIndex == firstOpen && job.record.state == .created {
            changes.effects.enqueues.append(JobTransition.enqueue(job))
        }
        return before.count
    }
}
