import ConveyorCore
import ConveyorHub
import ConveyorModel
import ConveyorTesting
import Testing

@Suite("Job state convergence")
struct ConvergenceTests {
    /// Property: any subset of one attempt's events (always with `queued` and `finished`), shuffled
    /// and duplicated, interleaved across jobs and pushed through the real stream and hub, ends in
    /// the row that applying them in order gives.
    @Test func shuffledAndDuplicatedEventsConverge() async throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let fixture = try await HubFixture.make()
        let build = try await fixture.build()
        var expected: [Int64: HubFixture.JobSnapshot] = [:]
        var updates: [StateUpdate] = []
        for index in 0..<40 {
            let result = [JobState.passed, .failed, .errored].randomElement(using: &rng)!
            let job = try await fixture.job(build: build)
            let script = AttemptScript(base: 1_700_000_000_000 + Int64(index) * 100_000, result: result)
            var events = script.all.filter { $0.kind == .finished || $0.kind == .queued || Bool.random(using: &rng) }
            events += events.filter { _ in Int.random(in: 0..<3, using: &rng) == 0 }
            updates += events.map { StateUpdate(job: job, event: $0, worker: "worker-\(index % 3)") }
            expected[job] = HubFixture.JobSnapshot(state: result.rawValue, attempt: 1, lastSeq: 3, queuedAt: script.base,
                                                   receivedAt: script.base + 1_000, startedAt: script.base + 2_500,
                                                   finishedAt: script.base + 10_000, reason: result == .passed ? nil : "script failed",
                                                   worker: "worker-\(index % 3)")
        }
        updates.shuffle(using: &rng)
        for update in updates { try await fixture.push(update) }

        let drained = try await withServices([HubService(context: fixture.context)]) {
            try await eventually { try await fixture.stateDrained() }
        }
        #expect(drained, "seed \(seed)")
        for (job, want) in expected {
            #expect(try await fixture.jobRow(job) == want, "job \(job), seed \(seed)")
        }
        #expect(try await fixture.buildRow(build).finished, "seed \(seed)")
        #expect(try await fixture.events("build:finished").count == 1, "seed \(seed)")
        #expect(try await fixture.events("job:finished").count == 40, "seed \(seed)")
        await fixture.close()
    }
}
