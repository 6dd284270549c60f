public enum BuildState: String, Sendable, Codable, CaseIterable {
    case created, started, passed, failed, errored, canceled

    public var isFinal: Bool {
        switch self {
        case .created, .started: return false
        default: return true
        }
    }
}

/// What the build state derivation needs to know of one job.
public struct BuildJobView: Sendable, Hashable {
    public var id: Int64
    public var state: JobState
    public var allowFailure: Bool
    public var stageIndex: Int

    public init(id: Int64, state: JobState, allowFailure: Bool = false, stageIndex: Int = 0) {
        self.id = id
        self.state = state
        self.allowFailure = allowFailure
        self.stageIndex = stageIndex
    }
}

public struct BuildDecision: Sendable, Equatable {
    public var state: BuildState
    /// Jobs to cancel: the unfinished jobs of stages after a failed stage.
    public var jobsToCancel: [Int64]

    public init(state: BuildState, jobsToCancel: [Int64] = []) {
        self.state = state
        self.jobsToCancel = jobsToCancel
    }
}

/// Derives a build's state from its jobs. Pure; the hub applies it inside a row lock, and emits
/// `build:finished` only on the transition into a final state, so it happens once.
public enum BuildStateMachine {
    public static func derive(jobs: [BuildJobView], fastFinish: Bool) -> BuildDecision {
        guard !jobs.isEmpty else { return BuildDecision(state: .passed) }
        let required = jobs.contains { !$0.allowFailure } ? jobs.filter { !$0.allowFailure } : jobs
        let jobsToCancel = jobsAfterFailedStage(jobs)

        let allFinal = jobs.allSatisfy(\.state.isFinal)
        let requiredFinal = required.allSatisfy(\.state.isFinal)
        // fast_finish: done once every required job is final, or as soon as one has failed.
        let requiredFailed = required.contains { [.failed, .errored].contains($0.state) }
        let finished = allFinal || (fastFinish && (requiredFinal || requiredFailed))
        // A stage failure cancels the rest; once only those cancels are pending, the result is known.
        let onlyCanceledRemain = jobs.allSatisfy { $0.state.isFinal || jobsToCancel.contains($0.id) }
        if finished || (!jobsToCancel.isEmpty && onlyCanceledRemain) {
            return BuildDecision(state: result(of: required.filter(\.state.isFinal)), jobsToCancel: jobsToCancel)
        }
        let notStarted = jobs.allSatisfy { $0.state == .created || $0.state == .queued }
        return BuildDecision(state: notStarted ? .created : .started, jobsToCancel: jobsToCancel)
    }

    /// errored, else failed, else canceled, else passed.
    private static func result(of jobs: [BuildJobView]) -> BuildState {
        let states = Set(jobs.map(\.state))
        if states.contains(.errored) { return .errored }
        if states.contains(.failed) { return .failed }
        if states.contains(.canceled) { return .canceled }
        return .passed
    }

    /// A stage fails when its required jobs are all final and one failed or errored; the non-final jobs
    /// of every later stage are then canceled.
    private static func jobsAfterFailedStage(_ jobs: [BuildJobView]) -> [Int64] {
        let stages = Dictionary(grouping: jobs, by: \.stageIndex)
        let failedStage = stages.keys.sorted().first { index in
            let stageJobs = stages[index] ?? []
            let required = stageJobs.filter { !$0.allowFailure }
            return !required.isEmpty && required.allSatisfy(\.state.isFinal)
                && required.contains { $0.state == .failed || $0.state == .errored }
        }
        guard let failedStage else { return [] }
        return jobs.filter { $0.stageIndex > failedStage && !$0.state.isFinal }.map(\.id)
    }
}
