import ConveyorCore
import ConveyorModel
import ConveyorRedis
import Foundation

/// The worker benchmarks of bench/worker/README.md, against the Redis and Postgres of `context`:
/// log throughput (script output → pipe → parts on `cv:logs`, against the same bytes written to a
/// file) and claim-to-start latency of no-op jobs through a real `WorkerService`.
public enum WorkerBenchmark {
    public static func run(context: NodeContext, megabytes: Int = 64, jobs: Int = 100) async throws -> String {
        let throughput = try await logThroughput(context: context, megabytes: megabytes)
        let latency = try await claimToStart(context: context, jobs: jobs)
        return "worker log throughput: \(throughput); claim-to-start of \(jobs) no-op jobs: \(latency)"
    }

    static func logThroughput(context: NodeContext, megabytes: Int) async throws -> String {
        let bytes = megabytes << 20
        let command = "yes 'conveyor benchmark line: the quick brown fox jumps over the lazy dog 0123456789' | head -c \(bytes)"
        let root = NSTemporaryDirectory() + "conveyor-worker-bench"
        let executor = LocalExecutor(root: root, sandbox: Sandbox(kind: .none))
        let id = Int64.random(in: 1_000_000_000...2_000_000_000)

        let fileStart = ContinuousClock.now
        _ = try await executor.run(ExecutionJob(id: id, attempt: 0, script: "\(command) > output.txt"), started: {}, output: { _ in })
        let fileSeconds = seconds(ContinuousClock.now - fileStart)

        let log = LogStream(job: id, attempt: 1, context: context, secrets: [], maxBytes: bytes * 2)
        let logStart = ContinuousClock.now
        log.start()
        _ = try await executor.run(ExecutionJob(id: id, attempt: 1, script: command), started: {}, output: log.append)
        await log.finish(trailer: "")
        let logSeconds = seconds(ContinuousClock.now - logStart)
        let mb = Double(bytes) / 1_048_576
        return String(format: "%.0f MB through cv:logs in %.2f s = %.1f MB/s (to a file: %.2f s = %.1f MB/s)",
                      mb, logSeconds, mb / logSeconds, fileSeconds, mb / fileSeconds)
    }

    static func claimToStart(context: NodeContext, jobs: Int) async throws -> String {
        let owner = "bench-\(UUID().uuidString.prefix(6).lowercased())"
        let ids = try await BenchmarkRows.insert(context: context, owner: owner, jobs: jobs, queue: context.settings.workerQueues[0])
        let service = WorkerService(context: context, executor: NoopExecutor())
        let task = Task { try await service.run() }
        defer { task.cancel() }
        let stream = context.keys.queue(context.settings.workerQueues[0])
        var latencies: [Int64] = []
        for id in ids {
            let sent = nowMillis()
            try await context.redis.send(["ZADD", RedisArgument(context.keys.running(owner)), RedisArgument(sent + 60_000), RedisArgument(id)])
            try await context.redis.xadd(stream, fields: QueueEntry(job: id, attempt: 1, owner: owner).fields)
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                if let started = try await startedAt(context: context, job: id) {
                    latencies.append(started - sent)
                    break
                }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        task.cancel()
        _ = await task.result
        guard !latencies.isEmpty else { return "no job started" }
        let sorted = latencies.sorted()
        func percentile(_ p: Double) -> Int64 { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        return "p50 \(percentile(0.5)) ms, p99 \(percentile(0.99)) ms, max \(sorted.last ?? 0) ms (XADD to `started`)"
    }

    private static func startedAt(context: NodeContext, job: Int64) async throws -> Int64? {
        let reply = try await context.redis.send(["XREVRANGE", RedisArgument(context.keys.state), "+", "-", "COUNT", "20"])
        let entries = RedisClient.parseRead(.array([.array([.bulk(Array(context.keys.state.utf8)), reply])])).first?.entries ?? []
        return entries.compactMap(StateUpdate.init).first { $0.job == job && $0.event.kind == .started }?.event.at
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
