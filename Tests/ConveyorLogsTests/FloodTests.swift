import ConveyorCore
import ConveyorLogs
import ConveyorTesting
import Testing

@Suite("Backpressure under a flood of parts", .serialized)
struct FloodTests {
    /// 20 MB in 8 KiB parts: the node never holds more than one batch of unacknowledged entries,
    /// every byte lands once, and `cv:logs` is trimmed behind the consumer.
    @Test func aFloodIngestsInBoundedBatches() async throws {
        let harness = try await LogsHarness.start {
            $0.maxLogBytes = 64 * 1024 * 1024
            $0.aggregationDelaySeconds = 3600
        }
        let job = randomJob()
        let partSize = 8 * 1024
        let count = 20 * 1024 * 1024 / partSize
        let line = Array("flood line with some text in it 0123456789\n".utf8)
        let piece = Array((0..<(partSize / line.count + 1)).flatMap { _ in line }.prefix(partSize))

        let sampling = try await TestEnvironment.redis()
        let sampler = Task {
            var maxPending = 0
            while !Task.isCancelled {
                // NOGROUP until the service has created its group: nothing in flight yet.
                if let pending = try? await sampling.xpendingSummary(harness.context.keys.logs, group: Groups.logs) {
                    maxPending = max(maxPending, pending.consumers.values.max() ?? 0)
                }
                try? await Task.sleep(for: .milliseconds(5))
            }
            return maxPending
        }
        #expect(try await eventually { !(try await harness.context.redis.xinfoGroups(harness.context.keys.logs)).isEmpty },
                "the service created its consumer group")
        for start in stride(from: 1, through: count, by: 500) {
            try await harness.send((start..<min(start + 500, count + 1)).map {
                LogPart(job: job, attempt: 1, number: $0, final: $0 == count, content: piece)
            })
        }
        #expect(try await eventually(timeout: .seconds(180)) {
            let row = try await harness.context.postgres.query("SELECT ingested_bytes FROM logs WHERE job_id = $1", [.int(job)]).first
            return row?["ingested_bytes"].int == count * partSize
        })
        sampler.cancel()
        let maxPending = await sampler.value
        await sampling.close()
        #expect(maxPending <= 100, "entries in flight per node stay within one batch (saw \(maxPending))")
        #expect(maxPending > 0, "the sampler saw the consumer at work")

        let stored = try await harness.context.postgres.query(
            "SELECT count(*) AS n, sum(octet_length(content)) AS bytes FROM log_parts WHERE job_id = $1", [.int(job)]).first
        #expect(stored?["n"].int == count)
        #expect(stored?["bytes"].int == count * partSize)
        #expect(try await eventually { try await harness.context.redis.xlen(harness.context.keys.logs) < 200 },
                "cv:logs is trimmed behind the consumer")
        let events = try await harness.events(job: job)
        #expect(events.count == count)
        await harness.stop()
    }
}
