import ConveyorCore
import ConveyorModel

/// Applies one `StateUpdate` from `cv:state` in one transaction: the job row and its build row are
/// locked (build first), so any number of hubs may consume at once. Effects are carried out after
/// the commit, before the entry is acknowledged.
struct StateUpdateHandler: Sendable {
    let context: NodeContext

    enum Result: Sendable, Equatable {
        case applied, ignored, unknownJob
    }

    func handle(_ update: StateUpdate) async throws -> Result {
        let maxAttempts = context.settings.maxAttempts
        let (result, outbox, changes) = try await context.postgres.transaction { connection in
            var changes = HubChanges()
            guard let buildID = try await JobStore.lockBuild(ofJob: update.job, on: connection),
                  let row = try await JobStore.lockJob(update.job, on: connection) else {
                return (Result.unknownJob, Int64?.none, changes)
            }
            guard let next = try await JobTransition.apply(update.event, worker: update.worker, to: row, maxAttempts: maxAttempts,
                                                             on: connection, changes: &changes) else {
                return (Result.ignored, Int64?.none, changes)
            }
            if next.state != row.record.state || next.attempt != row.record.attempt {
                try await BuildUpdater(maxAttempts: maxAttempts).recompute(build: buildID, before: [row.id: row.record.state],
                                                                          on: connection, changes: &changes)
            }
            return (Result.applied, try await Outbox.insert(changes.effects, on: connection), changes)
        }
        changes.observations.record()
        await Outbox.complete(id: outbox, effects: changes.effects, context: context)
        return result
    }
}
