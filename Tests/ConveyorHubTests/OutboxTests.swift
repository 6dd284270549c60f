import ConveyorCore
import ConveyorHub
import ConveyorRedis
import ConveyorTesting
import Testing

@Suite("Hub outbox")
struct OutboxTests {
    /// Effects a hub committed but never carried out (it died after the commit) are carried out by
    /// another hub's sweep: the slot is released, the cancel key set, the event published.
    @Test func leftOverEffectsAreSweptByAnotherHub() async throws {
        let fixture = try await HubFixture.make()
        try await fixture.occupySlot(7)
        let effects = #"""
            {"setCancelKeys": [7], "releases": [{"owner": "octo", "job": 7, "forget": true}], "clearCancelKeys": [], "enqueues": [],
             "wakes": ["octo"], "events": [{"type": "job:canceled", "data": "{\"job\":7}"}]}
            """#
        try await fixture.context.postgres.query("INSERT INTO hub_outbox (effects, created_at) VALUES ($1::jsonb, now() - interval '1 minute')", effects)
        let swept = try await withServices([HubService(context: fixture.context, outboxSweepEvery: .milliseconds(100), outboxAgeSeconds: 5)]) {
            try await eventually { try await fixture.context.postgres.query("SELECT 1 FROM hub_outbox").first == nil }
        }
        #expect(swept)
        #expect(try await fixture.running().isEmpty)
        #expect(try await fixture.context.redis.send(["EXISTS", RedisArgument(fixture.context.keys.cancel(7))]).int == 1)
        #expect(try await fixture.events("job:canceled").first?.int("job") == 7)
        #expect(try await fixture.context.redis.xlen(fixture.context.keys.scheduler) == 1)
        await fixture.close()
    }
}
