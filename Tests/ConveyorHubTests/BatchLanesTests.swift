import ConveyorCore
@testable import ConveyorHub
import ConveyorModel
import ConveyorTesting
import Testing

@Suite("State batches in lanes")
struct BatchLanesTests {
    /// Property: every update lands in exactly one lane, a lane keeps the stream's order, no build
    /// spans two lanes (so a job's transitions stay in one lane, in order), and there are at most
    /// `lanes` lanes.
    @Test func lanesKeepOrderAndShareNoBuild() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        for _ in 0..<200 {
            let lanes = Int.random(in: 1...6, using: &rng)
            let jobs = Int64.random(in: 1...40, using: &rng)
            var buildOf: [Int64: Int64] = [:]
            for job in 1...jobs where Int.random(in: 0..<10, using: &rng) > 0 { // some jobs are unknown
                buildOf[job] = Int64.random(in: 1...8, using: &rng)
            }
            let items = (0..<Int.random(in: 0...120, using: &rng)).map { (seq: $0, job: Int64.random(in: 1...jobs, using: &rng)) }
            let split = BatchLanes.split(items, job: \.job, buildOf: buildOf, lanes: lanes)
            #expect(split.count <= lanes, "seed \(seed)")
            #expect(split.allSatisfy { !$0.isEmpty }, "seed \(seed)")
            #expect(split.flatMap { $0.map(\.seq) }.sorted() == items.map(\.seq), "every update once, seed \(seed)")
            for lane in split {
                #expect(lane.map(\.seq) == lane.map(\.seq).sorted(), "arrival order within a lane, seed \(seed)")
            }
            var laneOfBuild: [Int64?: Int] = [:]
            for (index, lane) in split.enumerated() {
                for item in lane {
                    let build = buildOf[item.job]
                    #expect(laneOfBuild[build, default: index] == index, "build \(String(describing: build)) in two lanes, seed \(seed)")
                    laneOfBuild[build] = index
                }
            }
        }
    }

    /// Many builds' jobs report interleaved (and duplicated), and the whole history is on `cv:state`
    /// before the hub starts, so one read holds several transitions of each job spread over lanes
    /// committed at once: every job's transitions are applied in order (a later one applied first
    /// would make the earlier one "seq ≤ lastSeq", not applied), and every build finishes once.
    @Test func concurrentLanesApplyEachJobInOrder() async throws {
        let fixture = try await HubFixture.make { $0.hubBatchLanes = 4 }
        var jobs: [(build: Int64, job: Int64, result: JobState)] = []
        for b in 0..<8 {
            let build = try await fixture.build()
            for j in 0..<4 {
                jobs.append((build, try await fixture.job(build: build), (b + j) % 3 == 0 ? .failed : .passed))
            }
        }
        for step in 0..<4 {
            for entry in jobs {
                let event = AttemptScript(base: 1_700_000_000_000, result: entry.result).all[step]
                try await fixture.push(entry.job, event)
                try await fixture.push(entry.job, event)
            }
        }
        let drained = try await withServices([HubService(context: fixture.context)]) {
            try await eventually { try await fixture.stateDrained() }
        }
        #expect(drained)
        for entry in jobs {
            #expect(try await fixture.jobState(entry.job) == entry.result.rawValue)
            let applied = try await fixture.jobEvents(entry.job).filter(\.applied).map(\.kind)
            #expect(applied == ["queued", "received", "started", "finished"], "job \(entry.job)")
        }
        let finished = try await fixture.events("build:finished")
        #expect(finished.count == 8)
        #expect(Set(finished.compactMap { $0.int("build") }).count == 8)
        await fixture.close()
    }
}
