import ConveyorCore
import ConveyorHub
import ConveyorModel
import ConveyorTesting
import Testing

@Suite("Hub build state")
struct BuildStateTests {
    @Test func aPassedStageAdmitsTheNextOne() async throws {
        let fixture = try await HubFixture.make()
        let build = try await fixture.build()
        let first = try await fixture.job(build: build, stage: 0)
        let second = try await fixture.job(build: build, stage: 0)
        let later = [try await fixture.job(build: build, stage: 1), try await fixture.job(build: build, stage: 1)]
        try await withServices([HubService(context: fixture.context)]) {
            for event in AttemptScript().all { try await fixture.push(first, event) }
            #expect(try await eventually { try await fixture.stateDrained() })
            #expect(try await fixture.waiting().isEmpty)
            #expect(try await fixture.buildRow(build).state == "started")
            for event in AttemptScript().all { try await fixture.push(second, event) }
            #expect(try await eventually { try await fixture.waiting() == Set(later) })
        }
        #expect(try await fixture.events("build:started").count == 1)
        #expect(try await fixture.events("build:finished").isEmpty)
        await fixture.close()
    }

    @Test func aFailedStageCancelsLaterStages() async throws {
        let fixture = try await HubFixture.make()
        let build = try await fixture.build()
        let first = try await fixture.job(build: build, stage: 0)
        let later = try await fixture.job(build: build, stage: 1)
        try await withServices([HubService(context: fixture.context)]) {
            for event in AttemptScript(result: .failed).all { try await fixture.push(first, event) }
            #expect(try await eventually { try await fixture.buildRow(build).finished })
        }
        #expect(try await fixture.jobRow(later).state == "canceled")
        #expect(try await fixture.jobRow(later).reason == "an earlier stage failed")
        #expect(try await fixture.buildRow(build).state == "failed")
        #expect(try await fixture.waiting().isEmpty)
        #expect(try await fixture.events("build:finished").count == 1)
        await fixture.close()
    }

    /// fast_finish: the build finishes when the required job passes, and a later allow_failure
    /// failure neither changes it nor finishes it again.
    @Test func fastFinishFinishesOnce() async throws {
        let fixture = try await HubFixture.make()
        let build = try await fixture.build(fastFinish: true)
        let required = try await fixture.job(build: build)
        let optional = try await fixture.job(build: build, allowFailure: true)
        try await withServices([HubService(context: fixture.context)]) {
            for event in AttemptScript().all.prefix(3) { try await fixture.push(optional, event) }
            for event in AttemptScript().all { try await fixture.push(required, event) }
            #expect(try await eventually { try await fixture.buildRow(build).finished })
            #expect(try await fixture.jobState(optional) == "started")
            try await fixture.push(optional, AttemptScript(result: .failed).finished)
            #expect(try await eventually { try await fixture.stateDrained() })
        }
        #expect(try await fixture.jobState(optional) == "failed")
        #expect(try await fixture.buildRow(build).state == "passed")
        let finished = try await fixture.events("build:finished")
        #expect(finished.count == 1)
        #expect(finished.first?.string("state") == "passed")
        await fixture.close()
    }
}
