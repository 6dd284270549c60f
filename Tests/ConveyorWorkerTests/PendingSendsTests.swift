@testable import ConveyorWorker
import ConveyorRedis
import ConveyorTesting
import Foundation
import Testing

@Suite("Held state updates")
struct PendingSendsTests {
    final class Sent: @unchecked Sendable {
        // @unchecked Sendable: `batches` is only touched with `lock` held.
        private let lock = NSLock()
        private var batches: [[RedisCommand]] = []
        func record(_ batch: [RedisCommand]) { lock.withLock { batches.append(batch) } }
        var all: [[RedisCommand]] { lock.withLock { batches } }
    }

    @Test func heldUpdatesGoOutTogetherAfterTheDelay() async throws {
        let sent = Sent()
        let sends = PendingSends(delay: .milliseconds(30)) { sent.record($0) }
        sends.add(["XADD", "s", "*", "kind", "received"])
        sends.add(["XADD", "s", "*", "kind", "started"])
        #expect(try await eventually { sent.all.count == 1 })
        #expect(sent.all.first?.count == 2)
        #expect(await sends.finalPrefix().isEmpty)
        #expect(sent.all.count == 1)
    }

    @Test func aQuickAttemptTakesThemIntoItsFinalPipeline() async throws {
        let sent = Sent()
        let sends = PendingSends(delay: .milliseconds(100)) { sent.record($0) }
        sends.add(["XADD", "s", "*", "kind", "received"])
        let prefix = await sends.finalPrefix()
        #expect(prefix.count == 1)
        // finalPrefix has ended the scheduled flush (it waits for it), so this is final.
        #expect(sent.all.isEmpty, "nothing sent twice")
    }
}
