import ConveyorCore
import ConveyorRedis
import ConveyorTesting
import Foundation
import Synchronization
import Testing

@Suite("Stream consumer: deferred acknowledgement")
struct DeferredAckTests {
    /// Records what the handler saw, and holds the first batch's deferred work until released.
    final class Probe: Sendable {
        private enum Gate {
            /// Closed; the deferred work waiting at it, if any.
            case closed(waiting: CheckedContinuation<Void, Never>?)
            case open
        }

        private struct State {
            var seen: [String] = []
            var gate = Gate.closed(waiting: nil)
            var batches = 0
        }

        private let state = Mutex(State())

        func record(_ ids: [String]) -> Int {
            state.withLock { state in
                state.seen += ids
                state.batches += 1
                return state.batches
            }
        }

        var handled: [String] { state.withLock { $0.seen } }

        func waitForGate() async {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if case .open = state.gate { return true }
                    state.gate = .closed(waiting: continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        }

        func release() {
            let waiting = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.gate = .open }
                if case .closed(let waiting) = state.gate { return waiting }
                return nil
            }
            waiting?.resume()
        }
    }

    /// A batch's deferred work holds its entries pending without them being handled again (even
    /// across re-reads of the pending list); the next batch is handled meanwhile; once the work has
    /// run, everything is acknowledged, each entry handled exactly once.
    @Test func deferredEntriesAreAcknowledgedAfterTheirWorkAndNeverHandledTwice() async throws {
        let context = try await TestEnvironment.context(roles: [])
        let stream = context.keys.state
        let group = "deferred-test"
        let probe = Probe()
        let consumer = StreamConsumer(context: context, streams: [stream], group: group, batchSize: 10, blockMilliseconds: 100,
                                      retryPendingEvery: .milliseconds(100)) { items -> StreamBatchResult in
            let ids = items.map { ($0.stream, $0.entry.id) }
            let batch = probe.record(items.map(\.entry.id))
            return StreamBatchResult(done: [], deferred: ids, work: {
                if batch == 1 { await probe.waitForGate() }
            })
        }
        try await context.redis.ensureGroup(stream, group: group)
        for n in 0..<3 { try await context.redis.xadd(stream, fields: [("n", RedisArgument(n))]) }
        let task = Task { try await consumer.run() }

        #expect(try await eventually { probe.handled.count == 3 })
        try await Task.sleep(for: .milliseconds(600)) // pending re-reads fall due every 100 ms meanwhile
        #expect(probe.handled.count == 3, "entries in flight are not handled again: \(probe.handled)")
        for n in 3..<5 { try await context.redis.xadd(stream, fields: [("n", RedisArgument(n))]) }
        // One more batch is handled while the first one's work runs; then the consumer waits for it.
        #expect(try await eventually { probe.handled.count >= 4 }, "the next batch is handled while the first one's work runs")
        try await Task.sleep(for: .milliseconds(600)) // several pending re-reads would be due
        #expect(try await context.redis.xpendingSummary(stream, group: group).count >= 4)
        let whileHeld = probe.handled
        #expect(Set(whileHeld).count == whileHeld.count, "nothing handled twice while held: \(whileHeld)")

        probe.release()
        #expect(try await eventually { try await context.redis.xpendingSummary(stream, group: group).count == 0 && probe.handled.count == 5 })
        #expect(Set(probe.handled).count == 5 && probe.handled.count == 5, "\(probe.handled)")
        task.cancel()
        _ = try? await task.value
        await context.close()
    }
}
