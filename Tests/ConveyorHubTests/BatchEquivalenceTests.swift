import ConveyorCore
@testable import ConveyorHub
import ConveyorModel
import ConveyorTesting
import Foundation
import Testing

@Suite("State updates in batches")
struct BatchEquivalenceTests {
    /// Property: a random history (progress, duplicates, stale attempts, resets, cancels, awkward
    /// reasons) of a build's first stage, applied as random batches, leaves the same jobs (those of
    /// the second stage too, canceled or enqueued by the hub), audit rows, build and events as
    /// applying it one update at a time to an identical build.
    ///
    /// Only the first stage gets worker events, as in a real run: a later stage's jobs are admitted
    /// once it completes. (Were a later-stage job to report in the same batch as the failure that
    /// cancels its stage, the batch would apply that report before the cancel, not after it.)
    @Test func batchesMatchOneByOne() async throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let fixture = try await HubFixture.make { $0.maxAttempts = 2 }
        let batchBuild = try await fixture.build()
        let singleBuild = try await fixture.build()
        let stages = [0, 0, 0, 0, 1, 1]
        var batchJobs: [Int64] = []
        var singleJobs: [Int64] = []
        for stage in stages { batchJobs.append(try await fixture.job(build: batchBuild, stage: stage)) }
        for stage in stages { singleJobs.append(try await fixture.job(build: singleBuild, stage: stage)) }

        let reasons = ["plain", "with \"quotes\", commas {braces}", "back\\slash", "NULL", "ünïcödé ✓", ""]
        var history: [(index: Int, event: JobEvent, worker: String?)] = []
        for index in stages.indices where stages[index] == 0 {
            for attempt in 1...2 {
                let result = [JobState.passed, .failed, .errored].randomElement(using: &rng)!
                var script = AttemptScript(attempt: attempt, base: 1_700_000_000_000 + Int64(index * 100_000 + attempt * 20_000), result: result)
                script.result = result
                var events = script.all.filter { _ in Int.random(in: 0..<4, using: &rng) > 0 }
                if Bool.random(using: &rng) {
                    let at = script.base + 5_000
                    events.insert(JobEvent(kind: .reset, attempt: attempt, seq: 0, at: at, reason: reasons.randomElement(using: &rng)), at: events.count / 2)
                }
                events += events.filter { _ in Int.random(in: 0..<4, using: &rng) == 0 } // duplicates
                history += events.map { (index, $0, "worker-\(Int.random(in: 0..<3, using: &rng))") }
            }
        }
        history.shuffle(using: &rng)
        // A few cancels with awkward reasons, somewhere in the history.
        for _ in 0..<2 {
            let event = JobEvent(kind: .cancel, attempt: 1, seq: 0, at: 1_700_000_900_000, reason: reasons.randomElement(using: &rng))
            history.insert((Int.random(in: 0..<4, using: &rng), event, nil), at: Int.random(in: 0...history.count, using: &rng))
        }

        let batch = StateBatchHandler(context: fixture.context)
        var offset = 0
        while offset < history.count {
            let size = Int.random(in: 1...40, using: &rng)
            let chunk = history[offset..<min(history.count, offset + size)]
            _ = try await batch.handle(chunk.map { StateUpdate(job: batchJobs[$0.index], event: $0.event, worker: $0.worker) })
            offset += size
        }
        let single = StateUpdateHandler(context: fixture.context)
        for entry in history {
            _ = try await single.handle(StateUpdate(job: singleJobs[entry.index], event: entry.event, worker: entry.worker))
        }

        for (a, b) in zip(batchJobs, singleJobs) {
            #expect(try await comparable(fixture.jobRow(a)) == comparable(fixture.jobRow(b)), "job \(a) vs \(b), seed \(seed)")
            let auditA = try await fixture.jobEvents(a)
            let auditB = try await fixture.jobEvents(b)
            #expect(auditA.map(\.kind) == auditB.map(\.kind) && auditA.map(\.applied) == auditB.map(\.applied)
                    && auditA.map(\.note) == auditB.map(\.note), "audit of job \(a) vs \(b), seed \(seed)")
            let payloads = try await fixture.context.postgres.query(
                "SELECT payload::text AS p FROM job_events WHERE job_id = ANY($1::bigint[]) ORDER BY job_id, id", [.array([a, b])]).rows
            let texts: [String] = try payloads.map { try comparable(payload: $0.decode("p")) }
            #expect(Array(texts.prefix(texts.count / 2)) == Array(texts.suffix(texts.count / 2)), "payloads of job \(a) vs \(b), seed \(seed)")
        }
        let buildA = try await fixture.buildRow(batchBuild)
        let buildB = try await fixture.buildRow(singleBuild)
        #expect(buildA.state == buildB.state && buildA.finished == buildB.finished, "builds, seed \(seed)")

        // Same events per type, per build.
        let events = try await fixture.events()
        func counts(_ build: Int64) -> [String: Int] {
            Dictionary(grouping: events.filter { $0.int("build") == build }, by: \.type).mapValues(\.count)
        }
        #expect(counts(batchBuild) == counts(singleBuild), "events, seed \(seed)")
        await fixture.close()
    }

    /// The hub stamps a stage's cancel with its own clock: the two runs differ only there.
    private func comparable(_ row: HubFixture.JobSnapshot) -> HubFixture.JobSnapshot {
        var row = row
        if row.reason == Self.stageCancel { row.finishedAt = nil }
        return row
    }

    private func comparable(payload: String) -> String {
        guard payload.contains(Self.stageCancel) else { return payload }
        return payload.replacingOccurrences(of: #""at": [0-9]+"#, with: "\"at\": 0", options: .regularExpression)
    }

    private static let stageCancel = "an earlier stage failed"

    /// An update for a job that doesn't exist is reported, and the rest of its batch still applies.
    @Test func unknownJobsDoNotHoldUpTheBatch() async throws {
        let fixture = try await HubFixture.make()
        let build = try await fixture.build()
        let job = try await fixture.job(build: build)
        let script = AttemptScript()
        let outcome = try await StateBatchHandler(context: fixture.context).handle(
            [StateUpdate(job: 987_654_321, event: script.queued, worker: nil)] + script.all.map { StateUpdate(job: job, event: $0, worker: "w") })
        #expect(outcome.unknownJobs == [987_654_321])
        #expect(outcome.applied == 4)
        #expect(try await fixture.jobState(job) == "passed")
        #expect(try await fixture.buildRow(build).finished)
        #expect(try await fixture.events("build:finished").count == 1)
        await fixture.close()
    }
}
