import ConveyorCore
import ConveyorModel
import ConveyorPostgres

/// Applies a whole batch of `StateUpdate`s from `cv:state` in one transaction: the builds and jobs
/// involved are locked with one statement each (builds first, then jobs, each in id order: the same
/// order as `StateUpdateHandler` and the API actions), the state machine runs in memory, and the
/// audit rows, the job rows and the outbox row are written with one statement each. Builds are
/// re-derived once per batch; only those whose state must change, or whose next stage opens, take
/// `BuildUpdater`'s full path.
///
/// The result is the same as applying the updates one by one in order (`StateUpdateHandler`), which
/// the hub falls back to when a batch fails, to isolate the entry at fault.
struct StateBatchHandler: Sendable {
    let context: NodeContext

    struct Outcome: Sendable, Equatable {
        var applied = 0
        var ignored = 0
        var unknownJobs: [Int64] = []
    }

    /// Commits the batch, then carries out its effects.
    func handle(_ updates: [StateUpdate]) async throws -> Outcome {
        let committed = try await commit(updates)
        await committed.carryOut(context: context)
        return committed.outcome
    }

    /// A committed batch whose Redis effects are still to be carried out (its outbox row keeps them
    /// safe meanwhile).
    struct Committed: Sendable {
        var outcome: Outcome
        var outbox: Int64?
        var changes: HubChanges

        func carryOut(context: NodeContext) async {
            changes.observations.record()
            await Outbox.complete(id: outbox, effects: changes.effects, context: context)
        }
    }

    /// The transaction alone: the batch's rows and its outbox row.
    func commit(_ updates: [StateUpdate]) async throws -> Committed {
        if updates.isEmpty { return Committed(outcome: Outcome(), outbox: nil, changes: HubChanges()) }
        let maxAttempts = context.settings.maxAttempts
        let (outcome, outbox, changes) = try await context.postgres.transaction { connection in
            var changes = HubChanges()
            let jobIDs = Array(Set(updates.map(\.job))).sorted()
            _ = try await connection.query("""
                SELECT id FROM builds WHERE id IN (SELECT build_id FROM jobs WHERE id = ANY($1::bigint[])) ORDER BY id FOR UPDATE
                """, [.array(jobIDs)])
            var rows: [Int64: JobRow] = [:]
            for row in try await connection.query("""
                SELECT \(JobRow.columns) FROM \(JobRow.joins) WHERE j.id = ANY($1::bigint[]) ORDER BY j.id FOR UPDATE OF j
                """, [.array(jobIDs)]).rows {
                let job = try JobRow(row)
                rows[job.id] = job
            }
            let applied = Self.apply(updates, to: rows, maxAttempts: maxAttempts, changes: &changes)
            try await Self.write(applied, on: connection)
            try await Self.recomputeBuilds(applied, maxAttempts: maxAttempts, on: connection, changes: &changes)
            return (applied.outcome, try await Outbox.insert(changes.effects, on: connection), changes)
        }
        return Committed(outcome: outcome, outbox: outbox, changes: changes)
    }

    /// What the batch did to its jobs, before anything is written.
    struct Applied: Sendable {
        var outcome = Outcome()
        /// One audit row per known event, in order.
        var audit: [AuditRow] = []
        /// The jobs whose record changed, as they are now (record and remembered worker).
        var changed: [Int64: JobRow] = [:]
        /// States at the start of the batch, of the jobs whose state or attempt changed.
        var before: [Int64: JobState] = [:]
        /// The builds of those jobs.
        var builds: Set<Int64> = []
        /// The builds where a job reached a final state or began a new attempt: only there can a
        /// started build's state or open stage change.
        var decisive: Set<Int64> = []
        /// Each state change in order, to replay what one-by-one application would have derived.
        var steps: [(build: Int64, job: Int64, state: JobState)] = []
    }

    struct AuditRow: Sendable {
        var job: Int64
        var event: JobEvent
        var applied: Bool
        var note: String?
        var payload: String
    }

    /// The state machine over the batch in arrival order; a job's later events see its earlier ones.
    static func apply(_ updates: [StateUpdate], to locked: [Int64: JobRow], maxAttempts: Int, changes: inout HubChanges) -> Applied {
        var result = Applied()
        var rows = locked
        for update in updates {
            guard var row = rows[update.job] else {
                result.outcome.unknownJobs.append(update.job)
                continue
            }
            let payload = JobStore.payload(event: update.event, worker: update.worker)
            switch JobStateMachine.apply(update.event, to: row.record, maxAttempts: maxAttempts) {
            case .ignored(let note):
                result.audit.append(AuditRow(job: row.id, event: update.event, applied: false, note: note, payload: payload))
                result.outcome.ignored += 1
            case .applied(let next):
                result.audit.append(AuditRow(job: row.id, event: update.event, applied: true, note: nil, payload: payload))
                result.outcome.applied += 1
                JobTransition.effects(of: update.event, on: row, becoming: next, changes: &changes)
                let newAttempt = next.attempt != row.record.attempt
                let worker = JobTransition.worker(after: update.event, reportedBy: update.worker, previous: row.worker, newAttempt: newAttempt)
                if newAttempt || next.state != row.record.state {
                    if result.before[row.id] == nil { result.before[row.id] = locked[row.id]?.record.state }
                    result.builds.insert(row.buildID)
                    if newAttempt || next.state.isFinal { result.decisive.insert(row.buildID) }
                    result.steps.append((row.buildID, row.id, next.state))
                }
                row.record = next
                row.worker = worker
                rows[row.id] = row
                result.changed[row.id] = row
            }
        }
        return result
    }

    /// The audit rows and the changed job rows, one statement each.
    static func write(_ applied: Applied, on connection: PostgresConnection) async throws {
        let audit = applied.audit
        if !audit.isEmpty {
            _ = try await connection.query("""
                INSERT INTO job_events (job_id, attempt, seq, kind, applied, note, payload)
                SELECT * FROM unnest($1::bigint[], $2::int[], $3::int[], $4::text[], $5::bool[], $6::text[], $7::jsonb[])
                """, [.array(audit.map(\.job)), .array(audit.map(\.event.attempt)), .array(audit.map(\.event.seq)),
                      .array(audit.map { Optional($0.event.kind.rawValue) }), .array(audit.map(\.applied)),
                      .array(audit.map(\.note)), .array(audit.map { Optional($0.payload) })])
        }
        let jobs = applied.changed.values.sorted { $0.id < $1.id }
        if jobs.isEmpty { return }
        let records = jobs.map(\.record)
        _ = try await connection.query("""
            UPDATE jobs j SET state = u.state, attempt = u.attempt, last_seq = u.last_seq,
                queued_at = to_timestamp(u.queued_ms / 1000.0), received_at = to_timestamp(u.received_ms / 1000.0),
                started_at = to_timestamp(u.started_ms / 1000.0), finished_at = to_timestamp(u.finished_ms / 1000.0),
                finished_reason = u.reason, worker = u.worker
            FROM unnest($1::bigint[], $2::text[], $3::int[], $4::int[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[],
                        $9::text[], $10::text[])
                AS u(id, state, attempt, last_seq, queued_ms, received_ms, started_ms, finished_ms, reason, worker)
            WHERE j.id = u.id
            """, [.array(jobs.map(\.id)), .array(records.map { Optional($0.state.rawValue) }), .array(records.map(\.attempt)),
                  .array(records.map(\.lastSeq)), .array(records.map(\.queuedAt)), .array(records.map(\.receivedAt)),
                  .array(records.map(\.startedAt)), .array(records.map(\.finishedAt)), .array(records.map(\.finishedReason)),
                  .array(jobs.map(\.worker))])
    }

    /// Re-derives each touched build once. The common case (a job moved, the build's state and open
    /// stage stay) needs only the light read; the rest goes through `BuildUpdater`.
    static func recomputeBuilds(_ applied: Applied, maxAttempts: Int, on connection: PostgresConnection, changes: inout HubChanges) async throws {
        if applied.builds.isEmpty { return }
        var builds: [Int64: (state: BuildState, fastFinish: Bool, finished: Bool)] = [:]
        for row in try await connection.query("""
            SELECT id, state, fast_finish, finished_at IS NOT NULL AS finished FROM builds WHERE id = ANY($1::bigint[])
            """, [.array(applied.builds.sorted())]).rows {
            let state: String = try row.decode("state")
            builds[try row.decode("id")] = (BuildState(rawValue: state) ?? .created, try row.decode("fast_finish"), try row.decode("finished"))
        }
        // A job that was received or started moves a build only out of `created`; elsewhere nothing
        // can change unless a job finished or began again. Those builds are not read further.
        let ids = applied.builds.filter { id in
            applied.decisive.contains(id) || (builds[id].map { $0.state == .created && !$0.finished } ?? false)
        }.sorted()
        if ids.isEmpty { return }
        // The jobs this batch changed are known in memory; the rest of each build is read as counts
        // per (stage, allow_failure, state): a few rows per build instead of one per job.
        var views: [Int64: [BuildJobView]] = [:]
        let changed = Array(applied.changed.values)
        let wanted = Set(ids)
        for job in changed where wanted.contains(job.buildID) {
            views[job.buildID, default: []].append(job.view)
        }
        var synthetic: Int64 = 0
        for row in try await connection.query("""
            SELECT build_id, stage_index, allow_failure, state, count(*) AS n FROM jobs
            WHERE build_id = ANY($1::bigint[]) AND NOT (id = ANY($2::bigint[]))
            GROUP BY build_id, stage_index, allow_failure, state
            """, [.array(ids), .array(changed.map(\.id))]).rows {
            let state: String = try row.decode("state")
            let view = BuildJobView(id: 0, state: JobState(rawValue: state) ?? .created, allowFailure: try row.decode("allow_failure"),
                                    stageIndex: try row.decode("stage_index"))
            let count: Int = try row.decode("n")
            let build: Int64 = try row.decode("build_id")
            for _ in 0..<count {
                synthetic -= 1 // stand-in ids, negative so they never meet a real one
                var stand = view
                stand.id = synthetic
                views[build, default: []].append(stand)
            }
        }
        let updater = BuildUpdater(maxAttempts: maxAttempts)
        for id in ids {
            guard var build = builds[id] else { continue }
            let jobs = views[id] ?? []
            if !build.finished && build.state == .created && passedThroughStarted(jobs: jobs, build: id, applied: applied, fastFinish: build.fastFinish),
               let row = try await BuildRow.load(id, on: connection) {
                // One at a time, an earlier update of the batch would have started the build.
                try await updater.markStarted(row, on: connection, changes: &changes)
                build.state = .started
            }
            if needsFullRecompute(build: build, jobs: jobs, before: applied.before) {
                let before = applied.before.filter { entry in jobs.contains { $0.id == entry.key } }
                try await updater.recompute(build: id, before: before, on: connection, changes: &changes)
            }
        }
    }

    /// True when, replaying the batch's changes to this build in order, the build would have been
    /// `started` after one of them (so `build:started` is emitted even when the batch also finishes it).
    static func passedThroughStarted(jobs: [BuildJobView], build: Int64, applied: Applied, fastFinish: Bool) -> Bool {
        var views = jobs
        var index: [Int64: Int] = [:]
        for (i, job) in views.enumerated() {
            index[job.id] = i
            if let before = applied.before[job.id] { views[i].state = before }
        }
        for step in applied.steps where step.build == build {
            guard let i = index[step.job] else { continue }
            views[i].state = step.state
            let state = BuildStateMachine.derive(jobs: views, fastFinish: fastFinish).state
            if state == .started { return true }
            if state.isFinal { return false }
        }
        return false
    }

    /// False when `BuildUpdater.recompute` would change nothing: no stage to cancel or open, and the
    /// build's state stays (or the run already finished).
    static func needsFullRecompute(build: (state: BuildState, fastFinish: Bool, finished: Bool), jobs: [BuildJobView],
                                   before: [Int64: JobState]) -> Bool {
        let decision = BuildStateMachine.derive(jobs: jobs, fastFinish: build.fastFinish)
        if !decision.jobsToCancel.isEmpty { return true }
        let openBefore = jobs.filter { !(before[$0.id] ?? $0.state).isFinal }.map(\.stageIndex).min()
        let openNow = jobs.filter { !$0.state.isFinal }.map(\.stageIndex).min()
        if let openBefore, let openNow, openNow > openBefore { return true }
        if build.finished { return false }
        return decision.state.isFinal || (decision.state == .started && build.state == .created)
    }
}
