import ConveyorCore
import ConveyorHub
import ConveyorModel
import ConveyorRedis
import ConveyorTesting
import Testing

@Suite("Two hubs")
struct ConcurrentHubTests {
    /// Two hub nodes (different consumer names) share the group: every job ends right, every build
    /// finishes exactly once, and both nodes did work.
    @Test func twoHubNodesConsumeAtOnce() async throws {
        let fixture = try await HubFixture.make()
        var second = fixture.context.settings
        second.nodeID = fixture.context.settings.nodeID + "-b"
        let other = try NodeContext.make(settings: second, logger: fixture.context.logger)

        var jobs: [(build: Int64, job: Int64, result: JobState)] = []
        for b in 0..<6 {
            let build = try await fixture.build(fastFinish: b % 2 == 0)
            for j in 0..<5 {
                let result: JobState = (b + j) % 4 == 0 ? .failed : .passed
                jobs.append((build, try await fixture.job(build: build, allowFailure: j == 4), result))
            }
        }
        try await withServices([HubService(context: fixture.context), HubService(context: other)]) {
            // Interleave the jobs' events so both nodes see events of the same builds at once.
            for step in 0..<4 {
                for entry in jobs {
                    let script = AttemptScript(base: 1_700_000_000_000, result: entry.result)
                    try await fixture.push(entry.job, script.all[step])
                    try await fixture.push(entry.job, script.all[step]) // a duplicate, as redelivery would make
                }
            }
            #expect(try await eventually { try await fixture.stateDrained() })
        }
        for entry in jobs {
            #expect(try await fixture.jobState(entry.job) == entry.result.rawValue)
        }
        let finished = try await fixture.events("build:finished")
        #expect(finished.count == 6)
        #expect(Set(finished.compactMap { $0.int("build") }).count == 6)
        let consumers = try await fixture.context.redis.send(["XINFO", "CONSUMERS", RedisArgument(fixture.context.keys.state), RedisArgument(Groups.hub)])
        #expect((consumers.array ?? []).count == 2)
        await other.close()
        await fixture.close()
    }
}
