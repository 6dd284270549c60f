@testable import ConveyorWorker
import ConveyorRedis
import ConveyorTesting
import Foundation
import Synchronization
import Testing

@Suite("Held state updates")
struct PendingSendsTests {
    final class Sent: Sendable {
        private let batches = Mutex<[[RedisCommand]]>([])
        func record(_ batch: [RedisCommand]) -> Bool {
            batches.withLock { $0.append(batch) }
            return true
        }
        var all: [[RedisCommand]] { batches.withLock { $0 } }
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

    /// Redis does not take the flush's updates before the attempt ends: the flush, cancelled, hands
    /// them to the final pipeline instead of dropping them, ahead of the ones added since.
    @Test func aFlushThatCannotSendHandsItsUpdatesToTheFinalPipeline() async throws {
        let tried = Sent()
        let sends = PendingSends(delay: .milliseconds(1)) { batch in
            _ = tried.record(batch)
            while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) } // Redis is away
            return false
        }
        sends.add(["XADD", "s", "*", "kind", "received"])
        #expect(try await eventually { tried.all.count == 1 })
        sends.add(["XADD", "s", "*", "kind", "started"])
        let prefix = await sends.finalPrefix()
        #expect(prefix.map { $0.last.map { String(decoding: $0.bytes, as: UTF8.self) } } == ["received", "started"])
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
