import ConveyorCore
import ConveyorRedis
import Foundation

/// Ingest throughput of the logs role, and the lag from a part's `XADD` on `cv:logs` to its
/// `log:part` event on `cv:events` (what an SSE client receives, minus HTTP).
///
/// Runs a `LogsService` (no archive) on `context`, sends `megabytes` of 8 KiB parts for one job,
/// and waits until Postgres holds every byte. Use a context of its own: it creates log rows.
public enum LogsBenchmark {
    public static let partSize = 8 * 1024

    /// The figures of one run.
    public struct Report: Sendable, CustomStringConvertible {
        public var parts: Int
        public var bytes: Int
        public var ingestSeconds: Double
        public var lagMilliseconds: [Double]

        public var megabytesPerSecond: Double { Double(bytes) / 1_048_576 / ingestSeconds }

        public func lagPercentile(_ p: Double) -> Double {
            lagMilliseconds.isEmpty ? 0 : lagMilliseconds[min(lagMilliseconds.count - 1, Int(Double(lagMilliseconds.count) * p))]
        }

        public var description: String {
            String(format: "logs ingest: %d parts of %d B (%.1f MB) in %.2f s = %.1f MB/s; "
                   + "XADD→log:part lag over %d paced parts: p50 %.2f ms, p99 %.2f ms",
                   parts, LogsBenchmark.partSize, Double(bytes) / 1_048_576, ingestSeconds, megabytesPerSecond, lagMilliseconds.count,
                   lagPercentile(0.5), lagPercentile(0.99))
        }
    }

    public static func run(context: NodeContext, megabytes: Int) async throws -> String {
        try await report(context: context, megabytes: megabytes).description
    }

    public static func report(context: NodeContext, megabytes: Int) async throws -> Report {
        var configuration = LogsConfiguration(settings: context.settings)
        configuration.maxLogBytes = max(configuration.maxLogBytes, megabytes * 1024 * 1024 * 2)
        let service = LogsService(context: context, archive: nil, configuration: configuration)
        let job = Int64(Date().timeIntervalSince1970 * 1000) % 1_000_000_000 + 1_000_000_000
        let total = max(1, megabytes * 1024 * 1024 / partSize)
        let line = Array(String(repeating: "benchmark log line ", count: 4).utf8) + [10]
        let payload = Array((0..<(partSize / line.count + 1)).flatMap { _ in line }.prefix(partSize))

        let runner = Task { try await service.run() }
        do {
            let report = try await measure(context: context, configuration: configuration, job: job, total: total, payload: payload, line: line)
            runner.cancel()
            _ = try? await runner.value
            return report
        } catch {
            runner.cancel()
            _ = try? await runner.value
            throw error
        }
    }

    static func measure(context: NodeContext, configuration: LogsConfiguration, job: Int64, total: Int, payload: [UInt8],
                        line: [UInt8]) async throws -> Report {
        // Phase 1, throughput: a flood, the producer kept a few batches ahead of the consumer.
        let start = ContinuousClock.now
        var sent = 0
        while sent < total {
            let count = min(100, total - sent)
            _ = try await context.redis.pipeline((sent..<(sent + count)).map { number in
                RedisClient.xaddCommand(context.keys.logs, fields: LogPart(job: job, attempt: 1, number: number + 1,
                                                                           final: number + 1 == total, content: payload).fields)
            })
            sent += count
            // Backpressure on what the logs role has not yet acknowledged (not XLEN: the stream keeps
            // acknowledged entries until the trimmer's next tick, which then paced the flood).
            while try await unacknowledged(context) > configuration.batchSize * 20 { try await Task.sleep(for: .milliseconds(2)) }
        }
        while try await storedBytes(context, job: job) < total * partSize {
            try await Task.sleep(for: .milliseconds(20))
        }
        let elapsed = ContinuousClock.now - start

        // Phase 2, lag: parts at a steady pace (a busy fleet, not a flood), followed on cv:events.
        let lagJob = job + 1
        let lagParts = 500
        let events = context.redis.dedicatedConnection(name: "bench-events")
        let startID = try await context.redis.send(["XADD", RedisArgument(context.keys.events), "*", "type", "bench:start"]).string ?? "0-0"
        let lags = LagRecorder()
        let reader = Task { try await readEvents(events, context: context, job: lagJob, from: startID, expected: lagParts, lags: lags) }
        for number in 1...lagParts {
            await lags.sent(numbers: number...number, at: nanos())
            try await context.redis.xadd(context.keys.logs, fields: LogPart(job: lagJob, attempt: 1, number: number,
                                                                             final: number == lagParts, content: line).fields)
            try await Task.sleep(for: .milliseconds(2))
        }
        _ = try await reader.value
        await events.close()

        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return Report(parts: total, bytes: total * partSize, ingestSeconds: seconds, lagMilliseconds: await lags.sorted())
    }

    /// Entries of `cv:logs` the logs group has not acknowledged: pending plus not yet read.
    static func unacknowledged(_ context: NodeContext) async throws -> Int {
        guard let group = try await context.redis.xinfoGroups(context.keys.logs).first(where: { $0.name == Groups.logs }) else {
            return try await context.redis.xlen(context.keys.logs)
        }
        return group.pending + (group.lag ?? 0)
    }

    static func nanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    static func storedBytes(_ context: NodeContext, job: Int64) async throws -> Int {
        let row = try await context.postgres.query("SELECT ingested_bytes FROM logs WHERE job_id = $1 AND attempt = 1", [.int(job)]).first
        return row?["ingested_bytes"].int ?? 0
    }

    /// Follows `cv:events` like a web node does and records when each part arrives.
    static func readEvents(_ connection: RedisConnection, context: NodeContext, job: Int64, from startID: String, expected: Int,
                           lags: LagRecorder) async throws {
        var cursor = startID
        var seen = 0
        let deadline = ContinuousClock.now + .seconds(600)
        while seen < expected && ContinuousClock.now < deadline {
            let batch = try await connection.xreadBlocking(streams: [(context.keys.events, cursor)], count: 500, blockMilliseconds: 1000)
            for entry in batch.flatMap(\.entries) {
                cursor = entry.id
                guard entry.string("type") == LogPartEvent.type, let data = entry.fields?["data"],
                      let part = LogPartEvent.decode(data), part.job == job else { continue }
                seen += 1
                await lags.received(number: part.number, at: nanos())
            }
        }
    }
}

/// Send and receive times per part number.
actor LagRecorder {
    private var sentAt: [Int: UInt64] = [:]
    private var lags: [Double] = []

    func sent(numbers: ClosedRange<Int>, at nanos: UInt64) {
        for number in numbers { sentAt[number] = nanos }
    }

    func received(number: Int, at nanos: UInt64) {
        guard let sent = sentAt.removeValue(forKey: number) else { return }
        lags.append(Double(nanos &- sent) / 1e6)
    }

    func sorted() -> [Double] { lags.sorted() }
}
