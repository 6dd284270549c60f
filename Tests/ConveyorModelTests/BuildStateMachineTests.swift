import Testing
@testable import ConveyorModel

@Suite struct BuildStateMachineTests {
    private func job(_ id: Int64, _ state: JobState, allowFailure: Bool = false, stage: Int = 0) -> BuildJobView {
        BuildJobView(id: id, state: state, allowFailure: allowFailure, stageIndex: stage)
    }

    private func derive(_ jobs: [BuildJobView], fastFinish: Bool = false) -> BuildDecision {
        BuildStateMachine.derive(jobs: jobs, fastFinish: fastFinish)
    }

    @Test func createdUntilAJobIsReceived() {
        #expect(derive([job(1, .created), job(2, .queued)]).state == .created)
        #expect(derive([job(1, .received), job(2, .queued)]).state == .started)
        #expect(derive([job(1, .passed), job(2, .queued)]).state == .started)
    }

    @Test func resultPrecedence() {
        #expect(derive([job(1, .passed), job(2, .passed)]).state == .passed)
        #expect(derive([job(1, .failed), job(2, .passed)]).state == .failed)
        #expect(derive([job(1, .failed), job(2, .errored)]).state == .errored)
        #expect(derive([job(1, .canceled), job(2, .passed)]).state == .canceled)
        #expect(derive([job(1, .canceled), job(2, .failed)]).state == .failed)
    }

    @Test func allowedFailuresDoNotDecide() {
        #expect(derive([job(1, .passed), job(2, .failed, allowFailure: true)]).state == .passed)
        #expect(derive([job(1, .failed, allowFailure: true), job(2, .errored, allowFailure: true)]).state == .errored)
    }

    @Test func withoutFastFinishWaitsForAllowedFailures() {
        #expect(derive([job(1, .passed), job(2, .started, allowFailure: true)]).state == .started)
    }

    @Test func fastFinishFinishesWhenRequiredJobsAreDone() {
        #expect(derive([job(1, .passed), job(2, .started, allowFailure: true)], fastFinish: true).state == .passed)
        #expect(derive([job(1, .passed), job(2, .started)], fastFinish: true).state == .started)
    }

    @Test func fastFinishFinishesOnFirstRequiredFailure() {
        #expect(derive([job(1, .failed), job(2, .started)], fastFinish: true).state == .failed)
        #expect(derive([job(1, .failed), job(2, .started)], fastFinish: false).state == .started)
    }

    @Test func failedStageCancelsLaterStages() {
        let decision = derive([job(1, .failed, stage: 0), job(2, .passed, stage: 0),
                               job(3, .created, stage: 1), job(4, .queued, stage: 2), job(5, .passed, stage: 1)])
        #expect(decision.jobsToCancel == [3, 4])
        #expect(decision.state == .failed)
    }

    @Test func stageIsNotFailedWhileItsJobsRun() {
        let decision = derive([job(1, .failed, stage: 0), job(2, .started, stage: 0), job(3, .created, stage: 1)])
        #expect(decision.jobsToCancel.isEmpty)
        #expect(decision.state == .started)
    }

    @Test func allowedFailureInAStageDoesNotCancel() {
        let decision = derive([job(1, .failed, allowFailure: true, stage: 0), job(2, .passed, stage: 0),
                               job(3, .created, stage: 1)])
        #expect(decision.jobsToCancel.isEmpty)
        #expect(decision.state == .started)
    }

    @Test func canceledBuildAfterUserCancel() {
        #expect(derive([job(1, .canceled), job(2, .canceled)]).state == .canceled)
    }

    @Test func buildStateFinality() {
        #expect(BuildState.passed.isFinal && !BuildState.started.isFinal && !BuildState.created.isFinal)
        #expect(JobState.canceled.isFinal && !JobState.started.isFinal)
        #expect(JobState.allCases.map(\.rank) == [0, 1, 2, 3, 4, 4, 4, 4])
    }
}
