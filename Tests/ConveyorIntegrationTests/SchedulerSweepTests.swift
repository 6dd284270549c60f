import ConveyorCore
import ConveyorRedis
@testable import ConveyorScheduler
import ConveyorTesting
import Foundation
import Testing

/// The sweep's safety net: `created` jobs that never reached a waiting set go back to it, but only
/// those of their build's first open stage.
@Suite struct SchedulerSweepTests {
    @Test func lostJobsOfTheOpenStageAreRequeued() async throws {
        let context = try await TestEnvironment.context(roles: [.scheduler])
        let pg = context.postgres
        let owner = try await pg.query("INSERT INTO owners (login) VALUES ('sweeper') RETURNING id").first!["id"].int64!
        let repo = try await pg.query("INSERT INTO repositories (owner_id, slug, url) VALUES ($1, 'sweeper/app', 'file:///nowhere') RETURNING id",
                                      [.int(owner)]).first!["id"].int64!
        func build(_ number: Int) async throws -> Int64 {
            let request = try await pg.query("INSERT INTO requests (repository_id, event_type, branch, sha) VALUES ($1, 'api', 'main', 'abcdef1') RETURNING id",
                                             [.int(repo)]).first!["id"].int64!
            return try await pg.query("""
                INSERT INTO builds (repository_id, request_id, number, event_type, branch, sha, config) VALUES ($1, $2, $3, 'api', 'main', 'abcdef1', '{}')
                RETURNING id
                """, [.int(repo), .int(request), .int(number)]).first!["id"].int64!
        }
        func job(_ build: Int64, _ position: Int, stage: Int, state: String) async throws -> Int64 {
            try await pg.query("""
                INSERT INTO jobs (build_id, repository_id, owner_id, number, position, stage_index, state, queue, config, created_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7, 'default', '{}', now() - interval '1 hour') RETURNING id
                """, [.int(build), .int(repo), .int(owner), .text("x.\(position)"), .int(position), .int(stage), .text(state)]).first!["id"].int64!
        }
        // Build 1: stage 0 still open (one lost job), so its stage 1 job waits.
        let first = try await build(1)
        let lostInOpenStage = try await job(first, 1, stage: 0, state: "created")
        _ = try await job(first, 2, stage: 0, state: "passed")
        let laterStage = try await job(first, 3, stage: 1, state: "created")
        // Build 2: stage 0 done, its stage 1 job was lost on the way to the waiting set.
        let second = try await build(2)
        _ = try await job(second, 1, stage: 0, state: "passed")
        let lostNextStage = try await job(second, 2, stage: 1, state: "created")

        try await SchedulerService(context: context).requeueLostJobs()

        let waiting = try await context.redis.send(["ZRANGE", RedisArgument(context.keys.waiting("sweeper")), "0", "-1"])
        let ids = Set((waiting.array ?? []).compactMap { $0.int })
        #expect(ids == [lostInOpenStage, lostNextStage])
        #expect(!ids.contains(laterStage))
        await context.close()
    }
}
