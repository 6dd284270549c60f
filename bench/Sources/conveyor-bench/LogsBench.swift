import ArgumentParser
import ConveyorCore
import ConveyorLogs
import ConveyorRedis
import ConveyorTesting
import ConveyorThreads
import ConveyorWeb
import ConveyorWorker
import Dispatch
import Foundation

/// Issue 25's logs benchmark (bench/logs/README.md): the logs role's ingest MB/s next to
/// `redis-benchmark` XADD and a PostgreSQL `COPY` of the same bytes, then live logs end to end —
/// jobs writing lines the worker's way (`LogStream` → `cv:logs`), the logs role storing them and
/// publishing `log:part`, the web role's SSE endpoint, and subscribers timing each line from write
/// to arrival.
struct LogsBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Logs role ingest MB/s vs redis-benchmark XADD and psql COPY; live logs write → SSE p50/p99.")

    @Option(help: "Megabytes flooded through the logs role (8 KiB parts).") var megabytes = 100
    @Option(help: "Concurrent jobs writing live logs.") var jobs = 200
    @Option(help: "Lines per second each job writes.") var linesPerSecond = 10
    @Option(help: "SSE subscribers, spread over the jobs.") var subscribers = 500
    @Option(help: "Seconds the jobs write.") var seconds = 20
    @Option(help: "The worker's log_flush_ms for the live run (the product default is 500).") var flushMs = 500
    @Option(help: "HTTP port of the in-process web role.") var httpPort = 7580
    @Option(help: "Threads reading the SSE connections.") var readerThreads = 2
    @Flag(help: "Skip the ingest flood and its references.") var noIngest = false
    @Flag(help: "Skip the live-log run.") var noLive = false
    @Option(help: "Folder for the JSON results.") var resultsDir = "bench/results"

    func run() async throws {
        #if DEBUG
        print("warning: a debug build; measure with `swift build -c release --product conveyor-bench`\n")
        #endif
        var report: [String: String] = [
            "date": ISO8601DateFormatter().string(from: Date()), "cpus": String(ProcessInfo.processInfo.activeProcessorCount),
            "load": (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "",
        ]
        if !noIngest { try await ingest(into: &report) }
        if !noLive { try await live(into: &report) }
        try FileManager.default.createDirectory(atPath: resultsDir, withIntermediateDirectories: true)
        let path = "\(resultsDir)/logs-\(report["date"]!.prefix(10)).json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(report).write(to: URL(fileURLWithPath: path))
        print("results written to \(path)")
    }

    // MARK: - Ingest

    func ingest(into report: inout [String: String]) async throws {
        let context = try await TestEnvironment.context(roles: [.logs]) { $0.aggregationDelaySeconds = 600; $0.postgresPoolSize = 4 }
        let logs = try await LogsBenchmark.report(context: context, megabytes: megabytes)
        print(logs)
        let parts = logs.parts
        let xadd = try await redisXADD(parts: parts)
        let copy = try await postgresCopy(context: context, parts: parts)
        await context.close()
        let mb = Double(logs.bytes) / 1_048_576
        print(String(format: "references, the same %d parts of %d B: redis-benchmark XADD %.1f MB/s (%.0f parts/s); psql \\copy (binary) into a log_parts twin %.1f MB/s",
                     parts, LogsBenchmark.partSize, xadd * Double(LogsBenchmark.partSize) / 1_048_576, xadd, mb / copy))
        print(String(format: "logs role = %.0f%% of XADD, %.0f%% of COPY", logs.megabytesPerSecond / (xadd * Double(LogsBenchmark.partSize) / 1_048_576) * 100,
                     logs.megabytesPerSecond / (mb / copy) * 100))
        report["ingest_mb_per_s"] = String(format: "%.1f", logs.megabytesPerSecond)
        report["ingest_megabytes"] = String(format: "%.0f", mb)
        report["ingest_part_bytes"] = String(LogsBenchmark.partSize)
        report["xadd_to_log_part_p50_ms"] = String(format: "%.2f", logs.lagPercentile(0.5))
        report["xadd_to_log_part_p99_ms"] = String(format: "%.2f", logs.lagPercentile(0.99))
        report["redis_benchmark_xadd_mb_per_s"] = String(format: "%.1f", xadd * Double(LogsBenchmark.partSize) / 1_048_576)
        report["redis_benchmark_xadd_command"] = "redis-benchmark -n \(parts) -c 50 -P 10 XADD <key> MAXLEN ~ 10000 * data <8 KiB>"
        report["psql_copy_mb_per_s"] = String(format: "%.1f", mb / copy)
        report["psql_copy_command"] = "psql \\copy bench_copy_parts (job_id, attempt, number, content) FROM <file> WITH (FORMAT binary)"
    }

    /// `redis-benchmark` XADD of parts of the same size, on the same server: parts per second.
    func redisXADD(parts: Int) async throws -> Double {
        guard let tool = findTool("redis-benchmark") else { throw BenchError("redis-benchmark not found (apt-get install redis-tools)") }
        let url = URLComponents(string: TestEnvironment.redisURL)
        let key = "bench:xadd:\(UUID().uuidString.prefix(8))"
        let payload = String(repeating: "x", count: LogsBenchmark.partSize)
        let output = try await runTool(tool, ["-h", url?.host ?? "127.0.0.1", "-p", String(url?.port ?? 6379), "-n", String(parts), "-c", "50", "-P", "10",
                                              "--csv", "XADD", key, "MAXLEN", "~", "10000", "*", "data", payload])
        let redis = try await TestEnvironment.redis()
        _ = try? await redis.send(["DEL", RedisArgument(key)])
        await redis.close()
        guard let rps = try RedisBench.parseCSV(output).values.first else { throw BenchError("redis-benchmark printed no figure: \(output.suffix(300))") }
        return rps
    }

    /// `psql \copy` of the same parts (binary COPY format) into a twin of `log_parts`: seconds.
    func postgresCopy(context: NodeContext, parts: Int) async throws -> Double {
        guard let psql = findTool("psql") else { throw BenchError("psql not found") }
        try await context.postgres.query("CREATE TABLE bench_copy_parts (LIKE log_parts INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-bench-copy-\(UUID().uuidString.prefix(8)).bin").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Self.binaryCopy(parts: parts, size: LogsBenchmark.partSize).write(to: URL(fileURLWithPath: file))
        let start = ContinuousClock.now
        _ = try await runTool(psql, ["-X", "-q", "-v", "ON_ERROR_STOP=1", context.settings.postgresURL, "-c",
                                     "\\copy bench_copy_parts (job_id, attempt, number, content) FROM '\(file)' WITH (FORMAT binary)"])
        let elapsed = (ContinuousClock.now - start).seconds
        let stored: Int = try await context.postgres.query("SELECT count(*)::int AS n FROM bench_copy_parts").first!.decode("n")
        guard stored == parts else { throw BenchError("COPY stored \(stored) of \(parts) parts") }
        return elapsed
    }

    /// PostgreSQL's binary COPY format: (job_id int8, attempt int4, number int4, content bytea) per part.
    static func binaryCopy(parts: Int, size: Int) -> Data {
        var data = Data([0x50, 0x47, 0x43, 0x4F, 0x50, 0x59, 0x0A, 0xFF, 0x0D, 0x0A, 0x00]) // "PGCOPY\n\377\r\n\0"
        func int<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.bigEndian) { data.append(contentsOf: $0) } }
        int(Int32(0)) // flags
        int(Int32(0)) // header extension length
        let content = [UInt8](repeating: UInt8(ascii: "x"), count: size)
        for number in 1...max(1, parts) {
            int(Int16(4))
            int(Int32(8)); int(Int64(1))
            int(Int32(4)); int(Int32(1))
            int(Int32(4)); int(Int32(number))
            int(Int32(size)); data.append(contentsOf: content)
        }
        int(Int16(-1))
        return data
    }

    // MARK: - Live logs

    func live(into report: inout [String: String]) async throws {
        let context = try await TestEnvironment.context(roles: [.web, .logs]) { settings in
            settings.httpPort = httpPort
            settings.apiToken = "bench-token"
            settings.logFlushMilliseconds = flushMs
            settings.maxStreamSubscribers = subscribers + 64
            settings.aggregationDelaySeconds = 600
            settings.postgresPoolSize = 8
            settings.redisPoolSize = 8
        }
        let ids = try await insertJobs(context: context)
        let logs = LogsService(context: context, archive: nil)
        let web = WebService(context: context, logStore: LogStore(context: context, archive: nil), metricsText: { "" })
        let running = [Task { try await logs.run() }, Task { try await web.run() }]
        defer { for task in running { task.cancel() } }
        try await waitForPort()

        let paths = (0..<subscribers).map { "/api/v1/jobs/\(ids[$0 % ids.count])/log/stream" }
        let sse = SSESubscribers(port: httpPort, paths: paths, threads: readerThreads)
        let deadline = ContinuousClock.now + .seconds(60)
        while sse.answered < subscribers && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        guard sse.answered == subscribers else {
            _ = await sse.stop()
            throw BenchError("only \(sse.answered) of \(subscribers) SSE subscribers were answered within 60 s")
        }
        print("live logs: \(subscribers) SSE subscribers on \(ids.count) jobs; \(ids.count) jobs writing \(linesPerSecond) lines/s for \(seconds) s, log_flush_ms \(flushMs)")

        let written = try await writeLines(context: context, jobs: ids)
        try await Task.sleep(for: .seconds(3)) // the last flush and its delivery
        let result = await sse.stop()
        // The roles are cancelled on return (the process ends after the report).

        var perJob: [Int: Int] = [:]
        for index in 0..<subscribers { perJob[index % ids.count, default: 0] += 1 }
        let expected = perJob.reduce(0) { $0 + $1.value * written[$1.key] }
        let latencies = result.latenciesMilliseconds
        func percentile(_ p: Double) -> Double { latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
        print(String(format: "write → SSE client over %d deliveries (of %d expected): p50 %.1f ms, p99 %.1f ms, max %.1f ms; connections failed: %d",
                     latencies.count, expected, percentile(0.5), percentile(0.99), latencies.last ?? 0, result.failed))
        report["live_jobs"] = String(ids.count)
        report["live_lines_per_second_per_job"] = String(linesPerSecond)
        report["live_subscribers"] = String(subscribers)
        report["live_seconds"] = String(seconds)
        report["live_log_flush_ms"] = String(flushMs)
        report["live_deliveries"] = String(latencies.count)
        report["live_deliveries_expected"] = String(expected)
        report["live_write_to_sse_p50_ms"] = String(format: "%.1f", percentile(0.5))
        report["live_write_to_sse_p99_ms"] = String(format: "%.1f", percentile(0.99))
        report["live_write_to_sse_max_ms"] = String(format: "%.1f", latencies.last ?? 0)
    }

    /// One owner, repository and build with `jobs` started jobs (the SSE route reads their rows).
    func insertJobs(context: NodeContext) async throws -> [Int64] {
        let pg = context.postgres
        let owner: Int64 = try await pg.query("INSERT INTO owners (login) VALUES ('bench') RETURNING id").first!.decode("id")
        let repo: Int64 = try await pg.query("INSERT INTO repositories (owner_id, slug, url) VALUES ($1, 'bench/logs', 'file:///dev/null') RETURNING id",
                                             owner).first!.decode("id")
        let sha = String(repeating: "0", count: 40)
        let request: Int64 = try await pg.query("INSERT INTO requests (repository_id, event_type, branch, sha) VALUES ($1, 'api', 'main', $2) RETURNING id",
                                                repo, sha).first!.decode("id")
        let build: Int64 = try await pg.query("""
            INSERT INTO builds (repository_id, request_id, number, event_type, branch, sha, config) VALUES ($1, $2, 1, 'api', 'main', $3, '{}') RETURNING id
            """, repo, request, sha).first!.decode("id")
        return try await pg.query("""
            INSERT INTO jobs (build_id, repository_id, owner_id, number, position, state, attempt, queue, config)
            SELECT $1, $2, $3, '1.' || n, n, 'started', 1, 'default', '{}' FROM generate_series(1, $4::int) AS n RETURNING id
            """, build, repo, owner, jobs).rows.map { try $0.decode("id") }
    }

    /// Waits until the web role accepts connections.
    func waitForPort() async throws {
        let probe = DedicatedThread(name: "bench-probe")
        defer { probe.shutdown() }
        let port = httpPort
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let fd = await probe.run({ SSESubscribers.open(port: port, path: "/readyz") }) ?? nil {
                close(fd)
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("the web role did not listen on port \(httpPort) within 30 s")
    }

    /// Each job writes `linesPerSecond` lines of about 100 bytes for `seconds`, each carrying its
    /// write time; the jobs' ticks are spread over the interval. Returns the lines each job wrote.
    func writeLines(context: NodeContext, jobs: [Int64]) async throws -> [Int] {
        let interval = Duration.nanoseconds(1_000_000_000 / max(1, linesPerSecond))
        let total = seconds * linesPerSecond
        return try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            let start = ContinuousClock.now + .milliseconds(100)
            for (index, job) in jobs.enumerated() {
                group.addTask {
                    let writer = BenchmarkLogWriter(job: job, context: context)
                    let offset = interval * Double(index) / Double(jobs.count)
                    for line in 0..<total {
                        try await Task.sleep(until: start + offset + interval * line, clock: .continuous)
                        writer.write("@T\(DispatchTime.now().uptimeNanoseconds) job \(job) line \(line) the quick brown fox jumps over the lazy dog\n")
                    }
                    await writer.finish()
                    return (index, total)
                }
            }
            var written = Array(repeating: 0, count: jobs.count)
            for try await (index, count) in group { written[index] = count }
            return written
        }
    }
}
