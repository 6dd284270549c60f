import ConveyorCore
import ConveyorModel
import ConveyorPostgres

/// One event applied to one locked job: the audit row, the stored record, and the effects of the
/// change (slot, waiting set, cancel key, event). Shared by the stream consumer and the API actions.
enum JobTransition {
    /// Returns the new record when the event was applied, nil when it was recorded and ignored.
    static func apply(_ event: JobEvent, worker: String?, to row: JobRow, maxAttempts: Int,
                      on connection: PostgresConnection, changes: inout HubChanges) async throws -> JobRecord? {
        switch JobStateMachine.apply(event, to: row.record, maxAttempts: maxAttempts) {
        case .ignored(let note):
            try await JobStore.record(job: row.id, event: event, worker: worker, applied: false, note: note, on: connection)
            return nil
        case .applied(let next):
            try await JobStore.record(job: row.id, event: event, worker: worker, applied: true, note: nil, on: connection)
            let remembered = Self.worker(after: event, reportedBy: worker, previous: row.worker, newAttempt: next.attempt != row.record.attempt)
            try await JobStore.save(job: row.id, record: next, worker: remembered, on: connection)
            effects(of: event, on: row, becoming: next, changes: &changes)
            return next
        }
    }

    static func effects(of event: JobEvent, on row: JobRow, becoming next: JobRecord, changes: inout HubChanges) {
        let before = row.record
        if next.attempt != before.attempt {
            // A reset (or a restart) starts a new attempt: the old slot goes, the job waits again.
            changes.effects.releases.append(.init(owner: row.owner, job: row.id, forget: false))
            changes.effects.wake(row.owner)
            var data = EventPayloads.job(row, next)
            data["reason"] = .optional(event.reason)
            if event.kind == .restart {
                changes.effects.clearCancelKeys.append(row.id)
                changes.effects.publish("job:restarted", data)
            } else {
                // A reset job's stage is the one running, so it goes straight back to the waiting set;
                // restarts are enqueued by the action, which knows the build's stages.
                changes.effects.enqueues.append(enqueue(row))
                changes.effects.publish("job:reset", data)
            }
            return
        }
        guard next.state != before.state else { return }
        if next.state.isFinal {
            if next.state == .canceled { changes.effects.setCancelKeys.append(row.id) }
            changes.effects.releases.append(.init(owner: row.owner, job: row.id, forget: true))
            changes.effects.wake(row.owner)
            changes.observations.finishedJobs.append(next)
        }
        if let type = EventPayloads.jobEventType(for: next.state) {
            changes.effects.publish(type, EventPayloads.job(row, next))
        }
    }

    /// The worker a job remembers after an applied event: a new attempt forgets it, a worker's own
    /// event (received, started, finished) names it, anything else keeps it.
    static func worker(after event: JobEvent, reportedBy reporter: String?, previous: String?, newAttempt: Bool) -> String? {
        if newAttempt { return nil }
        let fromWorker = event.kind == .received || event.kind == .started || event.kind == .finished
        return (fromWorker ? reporter : nil) ?? previous
    }

    static func enqueue(_ row: JobRow) -> HubEffects.Enqueue {
        HubEffects.Enqueue(owner: row.owner, job: row.id, repo: row.repo, queue: row.queue, priority: row.priority, createdMillis: row.createdMillis)
    }
}
