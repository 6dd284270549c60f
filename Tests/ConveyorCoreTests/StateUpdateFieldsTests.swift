import ConveyorCore
import ConveyorModel
import ConveyorRedis
import Foundation
import Testing

@Suite("State update stream fields")
struct StateUpdateFieldsTests {
    private func entry(_ fields: [(String, RedisArgument)]) -> StreamEntry {
        StreamEntry(id: "1-0", fields: Dictionary(fields.map { ($0.0, $0.1.bytes) }, uniquingKeysWith: { $1 }))
    }

    @Test func everyFieldSurvivesTheStream() throws {
        let full = StateUpdate(job: 42, event: JobEvent(kind: .finished, attempt: 2, seq: 3, at: 1_700_000_000_123, result: .failed,
                                                        reason: "exit 1, with \"quotes\"\nand a newline", receivedAt: 1_700_000_000_001,
                                                        startedAt: 1_700_000_000_002), worker: "node-b")
        #expect(StateUpdate(entry(full.fields)) == full)
        let bare = StateUpdate(job: 7, event: JobEvent(kind: .received, attempt: 1, seq: 1, at: 5))
        #expect(StateUpdate(entry(bare.fields)) == bare)
        #expect(!bare.fields.contains { $0.0 == "worker" || $0.0 == "result" })
    }

    /// Entries written before the flat fields (one `data` JSON) are still read.
    @Test func readsTheEarlierJSONForm() throws {
        let update = StateUpdate(job: 9, event: JobEvent(kind: .reset, attempt: 1, seq: 3, at: 10, reason: "lease expired"), worker: "reaper")
        let json = try JSONEncoder().encode(update)
        #expect(StateUpdate(entry([("job", RedisArgument(9)), ("data", RedisArgument(bytes: Array(json)))])) == update)
    }

    @Test func malformedEntriesAreRejected() {
        #expect(StateUpdate(entry([("job", "1"), ("kind", "exploded"), ("attempt", "1"), ("seq", "1"), ("at", "1")])) == nil)
        #expect(StateUpdate(entry([("job", "x"), ("kind", "started"), ("attempt", "1"), ("seq", "1"), ("at", "1")])) == nil)
        #expect(StateUpdate(entry([("job", "1"), ("kind", "finished"), ("attempt", "1"), ("seq", "3"), ("at", "1"), ("result", "great")])) == nil)
        #expect(StateUpdate(entry([("job", "1"), ("data", "{not json")])) == nil)
        #expect(StateUpdate(StreamEntry(id: "1-0", fields: nil)) == nil)
    }
}
