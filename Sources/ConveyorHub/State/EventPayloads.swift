import ConveyorCore
import ConveyorModel

/// The compact JSON of hub events on `cv:events`: ids, state, attempt, timestamps in ms.
enum EventPayloads {
    static func job(_ row: JobRow, _ record: JobRecord) -> [String: JSONScalar] {
        [
            "job": .int(row.id), "build": .int(row.buildID), "repo": .string(row.repo), "owner": .string(row.owner),
            "number": .string(row.number), "stage": .int(Int64(row.stageIndex)), "state": .string(record.state.rawValue),
            "attempt": .int(Int64(record.attempt)), "queued_at": .optional(record.queuedAt), "received_at": .optional(record.receivedAt),
            "started_at": .optional(record.startedAt), "finished_at": .optional(record.finishedAt),
            "reason": .optional(record.finishedReason), "allow_failure": .bool(row.allowFailure),
        ]
    }

    static func build(_ build: BuildRow) -> [String: JSONScalar] {
        [
            "build": .int(build.id), "repo": .string(build.repo), "owner": .string(build.owner), "number": .int(Int64(build.number)),
            "state": .string(build.state.rawValue), "run": .int(Int64(build.run)),
            "started_at": .optional(build.startedMillis), "finished_at": .optional(build.finishedMillis),
        ]
    }

    /// The event name for a job that reached `state` by a forward transition.
    static func jobEventType(for state: JobState) -> String? {
        switch state {
        case .created, .queued: return nil // the scheduler publishes job:queued
        case .received: return "job:received"
        case .started: return "job:started"
        case .canceled: return "job:canceled"
        case .passed, .failed, .errored: return "job:finished"
        }
    }
}
