import ConveyorCore
import ConveyorModel
import ConveyorPostgres

/// Cancel and restart, for the web API and the CLI. Each action is one transaction through the same
/// state machine as the stream (build row locked first, then its jobs by id), answered once committed;
/// its effects (cancel keys, slots, waiting sets, events) are carried out before it returns.
public struct HubActions: Sendable {
    let context: NodeContext

    public init(context: NodeContext) {
        self.context = context
    }

    /// Cancels a job that isn't final yet. Returns false when it already was (nothing changed).
    public func cancelJob(_ id: Int64) async throws -> Bool {
        try await commit { connection, changes in
            guard let build = try await JobStore.lockBuild(ofJob: id, on: connection),
                  let row = try await JobStore.lockJob(id, on: connection) else { throw HubActionError.jobNotFound(id) }
            let steps = ActionSteps(maxAttempts: context.settings.maxAttempts)
            return try await steps.cancel([row], build: build, on: connection, changes: &changes) == 1
        }
    }

    /// Cancels every unfinished job of a build; returns how many.
    public func cancelBuild(_ id: Int64) async throws -> Int {
        try await commit { connection, changes in
            guard try await JobStore.lockBuild(id, on: connection) else { throw HubActionError.buildNotFound(id) }
            let rows = try await JobStore.lockJobs(ofBuild: id, on: connection)
            let steps = ActionSteps(maxAttempts: context.settings.maxAttempts)
            return try await steps.cancel(rows, build: id, on: connection, changes: &changes)
        }
    }

    /// Cancels a build superseded by a newer one (auto-cancellation): its jobs `policy` cancels, with
    /// `reason` ("superseded by build #N") as their finished reason. Returns how many.
    public func supersede(build id: Int64, reason: String, policy: AutoCancelPolicy) async throws -> Int {
        try await commit { connection, changes in
            guard try await JobStore.lockBuild(id, on: connection) else { throw HubActionError.buildNotFound(id) }
            let rows = try await JobStore.lockJobs(ofBuild: id, on: connection).filter { policy.cancels($0.record.state) }
            let steps = ActionSteps(maxAttempts: context.settings.maxAttempts)
            return try await steps.cancel(rows, build: id, reason: reason, on: connection, changes: &changes)
        }
    }

    /// Restarts a finished job as a new attempt. Returns false when the job isn't final.
    public func restartJob(_ id: Int64) async throws -> Bool {
        try await commit { connection, changes in
            guard let build = try await JobStore.lockBuild(ofJob: id, on: connection),
                  let row = try await JobStore.lockJob(id, on: connection) else { throw HubActionError.jobNotFound(id) }
            let steps = ActionSteps(maxAttempts: context.settings.maxAttempts)
            return try await steps.restart([row], build: build, on: connection, changes: &changes) == 1
        }
    }

    /// Restarts every finished job of a build (reopening the build); returns how many.
    public func restartBuild(_ id: Int64) async throws -> Int {
        try await commit { connection, changes in
            guard try await JobStore.lockBuild(id, on: connection) else { throw HubActionError.buildNotFound(id) }
            let rows = try await JobStore.lockJobs(ofBuild: id, on: connection)
            let steps = ActionSteps(maxAttempts: context.settings.maxAttempts)
            return try await steps.restart(rows, build: id, on: connection, changes: &changes)
        }
    }

    /// Runs `body` in a transaction with an outbox row, then carries out the effects.
    private func commit<T: Sendable>(_ body: @Sendable (PostgresConnection, inout HubChanges) async throws -> T) async throws -> T {
        let (value, outbox, changes) = try await context.postgres.transaction { connection in
            var changes = HubChanges()
            let value = try await body(connection, &changes)
            return (value, try await Outbox.insert(changes.effects, on: connection), changes)
        }
        changes.observations.record()
        await Outbox.complete(id: outbox, effects: changes.effects, context: context)
        return value
    }
}
