import ConveyorCore
import ConveyorHub
import ConveyorModel
import ConveyorRedis
import ConveyorTesting
import Testing

@Suite("Hub actions")
struct HubActionsTests {
    @Test func unknownIdsThrowNotFound() async throws {
        let fixture = try await HubFixture.make()
        let actions = HubActions(context: fixture.context)
        await #expect(throws: HubActionError.self) { try await actions.cancelJob(999_999) }
        await #expect(throws: HubActionError.self) { try await actions.restartBuild(999_999) }
        do {
            _ = try await actions.restartJob(424_242)
            Issue.record("expected an error")
        } catch let error as HubActionError {
            #expect(error.code == .notFound)
            #expect(error.message == "job 424242 not found")
        }
        await fixture.close()
    }

    @Test func cancelBuildCancelsWaitingAndRunningJobs() async throws {
        let fixture = try await HubFixture.make()
        let build = try await fixture.build()
        let waiting = try await fixture.job(build: build)
        let running = try await fixture.job(build: build, state: "started")
        let done = try await fixture.job(build: build, state: "passed")
        try await fixture.context.slots.enqueue(owner: fixture.owner, jobs: [.init(job: waiting, repo: fixture.slug, queue: "default", createdMillis: 1)])
        try await fixture.occupySlot(running)
        let actions = HubActions(context: fixture.context)
        #expect(try await actions.cancelBuild(build) == 2)
        #expect(try await actions.cancelBuild(build) == 0)
        #expect(try await fixture.waiting().isEmpty)
        #expect(try await fixture.running().isEmpty)
        for job in [waiting, running] {
            #expect(try await fixture.jobState(job) == "canceled")
            #expect(try await fixture.context.redis.send(["EXISTS", RedisArgument(fixture.context.keys.cancel(job))]).int == 1)
        }
        #expect(try await fixture.jobState(done) == "passed")
        #expect(try await fixture.buildRow(build).state == "canceled")
        #expect(try await fixture.events("build:canceled").count == 1)
        #expect(try await fixture.events("job:canceled").count == 2)
        #expect(try await actions.cancelJob(done) == false)
        await fixture.close()
    }

    @Test func restartReopensTheBuildForANewRun() async throws {
        let fixture = try await HubFixture.make()
        let build = try await fixture.build()
        let job = try await fixture.job(build: build)
        let actions = HubActions(context: fixture.context)
        try await withServices([HubService(context: fixture.context)]) {
            #expect(try await actions.restartJob(job) == false) // not finished
            for event in AttemptScript(result: .failed).all { try await fixture.push(job, event) }
            #expect(try await eventually { try await fixture.buildRow(build).finished })
            _ = try await fixture.context.redis.send(["SET", RedisArgument(fixture.context.keys.cancel(job)), "1"])

            #expect(try await actions.restartBuild(build) == 1)
            #expect(try await fixture.jobRow(job) == HubFixture.JobSnapshot(state: "created", attempt: 2, lastSeq: 0))
            let reopened = try await fixture.buildRow(build)
            #expect(reopened.state == "created" && !reopened.finished && reopened.run == 2)
            #expect(try await fixture.waiting() == [job])
            #expect(try await fixture.context.redis.send(["EXISTS", RedisArgument(fixture.context.keys.cancel(job))]).int == 0)

            for event in AttemptScript(attempt: 2, base: nowMillis()).all { try await fixture.push(job, event) }
            #expect(try await eventually { try await fixture.buildRow(build).finished })
        }
        #expect(try await fixture.buildRow(build).state == "passed")
        let finished = try await fixture.events("build:finished")
        #expect(finished.map { $0.string("state") } == ["failed", "passed"])
        #expect(finished.map { $0.int("run") } == [1, 2])
        #expect(try await fixture.events("job:restarted").count == 1)
        await fixture.close()
    }
}
