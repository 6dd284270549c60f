@testable import ConveyorWorker
import ConveyorRedis
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
        try await Task.sleep(for: .milliseconds(300))
        #expect(sent.all.count == 1)
        #expect(sent.all.first?.count == 2)
        #expect(await sends.finalPrefix().isEmpty)
    }

    @Test func aQuickAttemptTakesThemIntoItsFinalPipeline() async throws {
        let sent = Sent()
        let sends = PendingSends(delay: .milliseconds(100)) { sent.record($0) }
        sends.add(["XADD", "s", "*", "kind", "received"])
        let prefix = await sends.finalPrefix()
        #expect(prefix.count == 1)
        try await Task.sleep(for: .milliseconds(300))
        #expect(sent.all.isEmpty, "nothing sent twice")
    }
}
