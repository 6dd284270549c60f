import ConveyorCore
import ConveyorModel
import ConveyorPostgres

/// Re-derives a build after some of its jobs changed, with the build row locked: stores its state,
/// cancels the jobs of stages after a failed one, admits the next stage when one completes, and
/// emits `build:started` and `build:finished` (or `build:canceled`) — the latter once per run,
/// guarded by `finished_at IS NULL`.
struct BuildUpdater {
    let maxAttempts: Int

    /// `before`: the states the changed jobs had when this transaction began.
    func recompute(build id: Int64, before: [Int64: JobState], on connection: PostgresConnection, changes: inout HubChanges) async throws {
        guard var build = try await BuildRow.load(id, on: connection) else { return }
        var jobs = try await JobStore.jobs(ofBuild: id, on: connection)
        var decision = BuildStateMachine.derive(jobs: jobs.map(\.view), fastFinish: build.fastFinish)

        if !decision.jobsToCancel.isEmpty {
            try await cancelLaterStages(decision.jobsToCancel, on: connection, changes: &changes)
            jobs = try await JobStore.jobs(ofBuild: id, on: connection)
            decision = BuildStateMachine.derive(jobs: jobs.map(\.view), fastFinish: build.fastFinish)
        } else {
            admitNextStage(jobs: jobs, before: before, changes: &changes)
        }

        if build.isFinished { return } // this run already finished (e.g. fast_finish); later jobs don't reopen it
        if decision.state.isFinal {
            let finished = try await connection.query("""
                UPDATE builds SET state = $2, finished_at = now()
                WHERE id = $1 AND finished_at IS NULL
                RETURNING round(extract(epoch FROM finished_at) * 1000)::bigint AS finished_ms
                """, [.int(id), .text(decision.state.rawValue)]).first
            guard let finished else { return }
            build.state = decision.state
            build.finishedMillis = try finished.decode("finished_ms")
            changes.effects.publish(decision.state == .canceled ? "build:canceled" : "build:finished", EventPayloads.build(build))
            changes.observations.finishedBuilds.append(decision.state)
        } else if decision.state == .started && build.state == .created {
            try await markStarted(build, on: connection, changes: &changes)
        }
    }

    /// `created` → `started`, with its event (a no-op when another transaction got there first).
    func markStarted(_ build: BuildRow, on connection: PostgresConnection, changes: inout HubChanges) async throws {
        let started = try await connection.query("""
            UPDATE builds SET state = 'started', started_at = COALESCE(started_at, now())
            WHERE id = $1 AND state = 'created'
            RETURNING round(extract(epoch FROM started_at) * 1000)::bigint AS started_ms
            """, [.int(build.id)]).first
        guard let started else { return }
        var build = build
        build.state = .started
        build.startedMillis = try started.decode("started_ms")
        changes.effects.publish("build:started", EventPayloads.build(build))
    }

    /// Cancels the unfinished jobs of the stages after a failed one (ids in order: the lock order).
    private func cancelLaterStages(_ ids: [Int64], on connection: PostgresConnection, changes: inout HubChanges) async throws {
        for id in ids.sorted() {
            guard let row = try await JobStore.lockJob(id, on: connection) else { continue }
            let event = JobEvent(kind: .cancel, attempt: row.record.attempt, seq: 0, at: nowMillis(), reason: "an earlier stage failed")
            _ = try await JobTransition.apply(event, worker: nil, to: row, maxAttempts: maxAttempts, on: connection, changes: &changes)
        }
    }

    /// When this transaction finished the last open job of a stage, the next stage's jobs join the
    /// owner's waiting set (the gatekeeper admits only the first stage).
    private func admitNextStage(jobs: [JobRow], before: [Int64: JobState], changes: inout HubChanges) {
        let openBefore = jobs.filter { !(before[$0.id] ?? $0.record.state).isFinal }.map(\.stageIndex).min()
        let openNow = jobs.filter { !$0.record.state.isFinal }.map(\.stageIndex).min()
        guard let openBefore, let openNow, openNow > openBefore else { return }
        for job in jobs where job.stageIndex == openNow && job.record.state == .created {
            changes.effects.enqueues.append(JobTransition.enqueue(job))
        }
    }
}
