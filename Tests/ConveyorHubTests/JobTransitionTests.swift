import ConveyorCore
import ConveyorHub
import ConveyorModel
import ConveyorRedis
import ConveyorTesting
import Testing

@Suite("Hub job transitions")
struct JobTransitionTests {
    @Test func staleAttemptIsRecordedAndIgnored() async throws {
        let fixture = try await HubFixture.make()
        let job = try await fixture.job(build: try await fixture.build(), state: "started", attempt: 2)
        try await withServices([HubService(context: fixture.context)]) {
            try await fixture.push(job, JobEvent(kind: .finished, attempt: 1, seq: 9, at: nowMillis(), result: .passed))
            #expect(try await eventually { try await fixture.stateDrained() })
        }
        #expect(try await fixture.jobRow(job).state == "started")
        let audit = try await fixture.jobEvents(job)
        #expect(audit.count == 1)
        #expect(audit.first?.applied == false)
        #expect(audit.first?.note == "stale attempt 1 < 2")
        await fixture.close()
    }

    @Test func finishBeforeStartEndsWithBothTimestamps() async throws {
        let fixture = try await HubFixture.make()
        let job = try await fixture.job(build: try await fixture.build())
        let script = AttemptScript(result: .failed)
        try await withServices([HubService(context: fixture.context)]) {
            for event in [script.finished, script.started, script.received] { try await fixture.push(job, event) }
            #expect(try await eventually { try await fixture.stateDrained() })
        }
        let row = try await fixture.jobRow(job)
        #expect(row.state == "failed")
        #expect(row.receivedAt == script.base + 1_000)
        #expect(row.startedAt == script.base + 2_500)
        #expect(row.finishedAt == script.base + 10_000)
        #expect(try await fixture.jobEvents(job).map(\.applied) == [true, false, false])
        await fixture.close()
    }

    @Test func canceledNeverBecomesPassed() async throws {
        let fixture = try await HubFixture.make()
        let job = try await fixture.job(build: try await fixture.build(), state: "started")
        try await fixture.occupySlot(job)
        #expect(try await HubActions(context: fixture.context).cancelJob(job))
        let ttl = try await fixture.context.redis.send(["TTL", RedisArgument(fixture.context.keys.cancel(job))]).int ?? -2
        #expect(ttl > 3000 && ttl <= 3600)
        #expect(try await fixture.running().isEmpty)
        try await withServices([HubService(context: fixture.context)]) {
            try await fixture.push(job, JobEvent(kind: .finished, attempt: 1, seq: 5, at: nowMillis(), result: .passed))
            #expect(try await eventually { try await fixture.stateDrained() })
        }
        #expect(try await fixture.jobRow(job).state == "canceled")
        #expect(try await fixture.buildRow(try await fixture.buildOf(job)).state == "canceled")
        #expect(try await fixture.events("job:canceled").count == 1)
        #expect(try await fixture.events("build:canceled").count == 1)
        #expect(try await fixture.jobEvents(job).last?.note == "job already canceled")
        await fixture.close()
    }

    @Test func resetStartsANewAttemptUntilTheLastOneErrors() async throws {
        let fixture = try await HubFixture.make { $0.maxAttempts = 3 }
        let job = try await fixture.job(build: try await fixture.build())
        try await withServices([HubService(context: fixture.context)]) {
            for attempt in 1...3 {
                let script = AttemptScript(attempt: attempt, base: nowMillis())
                try await fixture.occupySlot(job)
                try await fixture.push(job, script.queued)
                try await fixture.push(job, script.received)
                try await fixture.push(job, script.started)
                try await fixture.push(job, JobEvent(kind: .reset, attempt: attempt, seq: 3, at: nowMillis(), reason: "worker_lost"))
                #expect(try await eventually { try await fixture.stateDrained() })
                let row = try await fixture.jobRow(job)
                if attempt < 3 {
                    #expect(row == HubFixture.JobSnapshot(state: "created", attempt: attempt + 1, lastSeq: 0))
                    #expect(try await fixture.waiting() == [job])
                    #expect(try await fixture.running().isEmpty)
                } else {
                    #expect(row.state == "errored")
                    #expect(row.attempt == 3)
                    #expect(row.reason == "worker_lost: gave up after 3 attempts")
                    #expect(try await fixture.waiting().isEmpty)
                    #expect(try await fixture.running().isEmpty)
                }
            }
        }
        #expect(try await fixture.events("job:reset").count == 2)
        #expect(try await fixture.events("job:finished").last?.string("state") == "errored")
        #expect(try await fixture.buildRow(try await fixture.buildOf(job)).state == "errored")
        await fixture.close()
    }
}

extension HubFixture {
    func buildOf(_ job: Int64) async throws -> Int64 {
        try await context.postgres.query("SELECT build_id FROM jobs WHERE id = $1", job).first!.decode("build_id")
    }
}
