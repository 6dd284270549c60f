import ConveyorCore
import ConveyorGatekeeper
import ConveyorHub
import ConveyorLogs
import ConveyorReaper
import ConveyorRedis
import ConveyorScheduler
import ConveyorTesting
import ConveyorWorker
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Redis loses everything in the middle of a build (`FLUSHALL`, or a restart without persistence):
/// the cluster rebuilds it from PostgreSQL and converges — every job passes at its first attempt
/// (live workers keep their leases), the owner's limit holds throughout, one `build:finished`,
/// complete ordered logs, nothing left pending (docs/runbook.md#redis-lost-or-behind).
@Suite(.serialized) struct RedisLossTests {
    enum Fault: String, CaseIterable, Sendable { case flushall, restartEmpty }

    static let config = """
        language: shell
        env:
          jobs:
            - PART=a
            - PART=b
            - PART=c
        script:
          - seq 1 400 | sed "s/^/$PART-/"
          - sleep 4
          - seq 401 800 | sed "s/^/$PART-/"
        """

    @Test(.timeLimit(.minutes(4)), arguments: Fault.allCases)
    func theClusterConvergesAfterRedisLosesItsData(fault: Fault) async throws {
        let redis = try OwnRedis()
        try await redis.start()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("cv-work-\(UUID().uuidString.prefix(8))").path
        let context = try await TestEnvironment.context {
            $0.redisURL = redis.url
            $0.workDirectory = work
            $0.workerSlots = 2
            $0.aggregationDelaySeconds = 1
        }
        let repo = try PipelineTests.makeRepository(Self.config)
        // Owner limit 1 (PipelineTests.request makes owners with limit 2): three jobs run one by one.
        let requestID = try await PipelineTests.request(context, url: repo.url, sha: repo.sha, owner: "lossy")
        _ = try await context.postgres.query("UPDATE owners SET concurrency_limit = 1 WHERE login = 'lossy'")
        let sampler = LimitSampler(context: context, owner: "lossy", limit: 1)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await GatekeeperService(context: context).run() }
            group.addTask { try await SchedulerService(context: context).run() }
            group.addTask { try await WorkerService(context: context).run() }
            group.addTask { try await HubService(context: context).run() }
            group.addTask { try await LogsService(context: context, archive: nil).run() }
            group.addTask { try await ReaperService(context: context).run() }
            group.addTask { await sampler.run() }

            // Strike while the first job runs (started, output sent, sleeping).
            let running = try await eventually(timeout: .seconds(90)) {
                try await context.postgres.query("SELECT 1 FROM jobs WHERE state = 'started'").rows.count == 1
            }
            #expect(running, "no job started")
            try await Task.sleep(for: .seconds(1))
            switch fault {
            case .flushall: try await context.redis.send("FLUSHALL")
            case .restartEmpty:
                await redis.kill()
                try await redis.start()
            }

            let finished = try await eventually(timeout: .seconds(150), every: .milliseconds(250)) {
                let row = try await context.postgres.query("SELECT state FROM builds WHERE request_id = $1", [.int(requestID)]).first
                return ["passed", "failed", "errored", "canceled"].contains(row?["state"].string ?? "")
            }
            #expect(finished, "the build did not finish after Redis lost its data")
            let build = try await context.postgres.query("SELECT id, state FROM builds WHERE request_id = $1", [.int(requestID)]).first
            #expect(build?["state"].string == "passed")
            let jobs = try await context.postgres.query("SELECT id, state, attempt FROM jobs WHERE build_id = $1 ORDER BY id",
                                                        [.int(build?["id"].int64 ?? 0)])
            #expect(jobs.rows.map { $0["state"].string ?? "" } == ["passed", "passed", "passed"])
            // The job running at the time kept its lease: no second attempt of anything.
            #expect(jobs.rows.map { $0["attempt"].int ?? 0 } == [1, 1, 1], "a job was run again")
            let repairs = try await context.postgres.query("SELECT repairs FROM redis_epochs WHERE key_prefix = $1", [.text(context.keys.prefix)])
            #expect((repairs.first?["repairs"].int ?? 0) >= 1, "no repair was recorded")

            // Complete, ordered logs for every job.
            for row in jobs.rows {
                let job = row["id"].int64 ?? 0
                let complete = try await eventually(timeout: .seconds(30)) {
                    let snapshot = try await LogStore(context: context, archive: nil).read(job: job)
                    return snapshot?.final == true && snapshot?.text.contains("Done. Your build exited with 0") == true
                }
                #expect(complete, "log of job \(job) not complete")
                let text = try await LogStore(context: context, archive: nil).read(job: job)?.text ?? ""
                #expect(Self.ordered(text), "log of job \(job) is missing lines or out of order")
            }
            // One build:finished (the flush came before it).
            let once = try await eventually(timeout: .seconds(30)) {
                let events = try await context.redis.send(["XRANGE", RedisArgument(context.keys.events), "-", "+"]).array ?? []
                return events.filter { StreamEntryText.type(of: $0) == "build:finished" }.count == 1
            }
            #expect(once, "not exactly one build:finished")
            // Nothing stuck in a pending entries list, no slot left.
            let drained = try await eventually(timeout: .seconds(30)) {
                var pending = 0
                for (stream, g) in [(context.keys.requests, Groups.gatekeeper), (context.keys.scheduler, Groups.scheduler),
                                    (context.keys.state, Groups.hub), (context.keys.logs, Groups.logs), (context.keys.queue("default"), Groups.workers)] {
                    pending += (try? await context.redis.xpendingSummary(stream, group: g).count) ?? 0
                }
                let slots = try await context.redis.send(["ZCARD", RedisArgument(context.keys.running("lossy"))]).int ?? 0
                return pending == 0 && slots == 0
            }
            #expect(drained, "pending entries or slots left")
            #expect(sampler.violations.isEmpty, "limit exceeded: \(sampler.violations.prefix(5))")
            group.cancelAll()
        }
        await context.close()
        await redis.stop()
    }

    /// Each `<part>-<n>` run counts 1…800 without a gap or a repeat.
    static func ordered(_ text: String) -> Bool {
        var next: [Substring: Int] = [:]
        for raw in text.split(separator: "\n") {
            // A fold or timing marker may precede the first line of output ("…\u{1b}[0Ka-1").
            let line = Substring(String(raw).components(separatedBy: "\u{1b}[0K").last ?? "")
            let pieces = line.split(separator: "-", maxSplits: 1)
            guard pieces.count == 2, ["a", "b", "c"].contains(pieces[0]), let n = Int(pieces[1]) else { continue }
            guard n == next[pieces[0], default: 1] else { return false }
            next[pieces[0]] = n + 1
        }
        return next.values.allSatisfy { $0 == 801 } && next.count == 1
    }

    /// `conveyor repair` on a healthy cluster, over and over while a build runs, changes nothing
    /// that matters: no job runs twice, the build passes with one `build:finished`.
    @Test(.timeLimit(.minutes(3)))
    func repairingAHealthyClusterIsHarmless() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("cv-work-\(UUID().uuidString.prefix(8))").path
        let context = try await TestEnvironment.context { $0.workDirectory = work; $0.workerSlots = 2; $0.aggregationDelaySeconds = 1 }
        let repo = try PipelineTests.makeRepository(Self.config)
        let requestID = try await PipelineTests.request(context, url: repo.url, sha: repo.sha, owner: "steady")
        let sampler = LimitSampler(context: context, owner: "steady", limit: 2)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await GatekeeperService(context: context).run() }
            group.addTask { try await SchedulerService(context: context).run() }
            group.addTask { try await WorkerService(context: context).run() }
            group.addTask { try await HubService(context: context).run() }
            group.addTask { try await LogsService(context: context, archive: nil).run() }
            group.addTask { await sampler.run() }
            var repairs = 0
            let finished = try await eventually(timeout: .seconds(120), every: .milliseconds(400)) {
                if try await RedisRepair(context: context).repair(reason: "test") != nil { repairs += 1 }
                let row = try await context.postgres.query("SELECT state FROM builds WHERE request_id = $1", [.int(requestID)]).first
                return ["passed", "failed", "errored", "canceled"].contains(row?["state"].string ?? "")
            }
            #expect(finished)
            #expect(repairs > 5)
            let jobs = try await context.postgres.query("""
                SELECT j.state, j.attempt FROM jobs j JOIN builds b ON b.id = j.build_id WHERE b.request_id = $1
                """, [.int(requestID)])
            #expect(jobs.rows.allSatisfy { $0["state"].string == "passed" && $0["attempt"].int == 1 })
            let events = try await context.redis.send(["XRANGE", RedisArgument(context.keys.events), "-", "+"]).array ?? []
            #expect(events.filter { StreamEntryText.type(of: $0) == "build:finished" }.count <= 1)
            #expect(sampler.violations.isEmpty, "limit exceeded: \(sampler.violations.prefix(5))")
            group.cancelAll()
        }
        await context.close()
    }
}

/// Samples an owner's running slots (Redis) and active jobs (PostgreSQL) against its limit.
final class LimitSampler: Sendable {
    let context: NodeContext
    let owner: String
    let limit: Int
    private let found = Mutex<[String]>([])

    init(context: NodeContext, owner: String, limit: Int) {
        self.context = context
        self.owner = owner
        self.limit = limit
    }

    var violations: [String] { found.withLock { $0 } }

    func run() async {
        while !Task.isCancelled {
            if let n = try? await context.redis.send(["ZCARD", RedisArgument(context.keys.running(owner))]).int, n > limit {
                found.withLock { $0.append("Redis holds \(n) slots") }
            }
            if let n = try? await context.postgres.query("""
                SELECT count(*) AS n FROM jobs j JOIN owners o ON o.id = j.owner_id WHERE o.login = $1 AND j.state IN ('queued', 'received', 'started')
                """, [.text(owner)]).first?["n"].int, n > limit {
                found.withLock { $0.append("PostgreSQL has \(n) active jobs") }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
}

/// A `redis-server` of this test's own (no persistence), on a free loopback port: FLUSHALL and
/// restarts must never touch the shared test server.
final class OwnRedis: @unchecked Sendable {
    // @unchecked Sendable: `process` is only touched by the one test that owns this server, sequentially.
    let port: Int
    private var process: ChildProcess?
    private let directory: URL
    var url: String { "redis://127.0.0.1:\(port)/0" }

    init() throws {
        port = try freeLoopbackPort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cv-redis-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func start() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server") else {
            throw TestSetupError("/usr/bin/redis-server not found; install it with scripts/install-deps.sh")
        }
        process = try ChildProcess.spawn("/usr/bin/redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                                                   "--dir", directory.path], log: directory.appendingPathComponent("redis.log").path)
        let client = RedisClient(configuration: .init(url: try RedisURL(url), poolSize: 1, connectTimeout: .milliseconds(200)))
        defer { Task { await client.close() } }
        let up = try await eventually(timeout: .seconds(10), every: .milliseconds(50)) { (try? await client.send("PING")) == .simple("PONG") }
        if !up { throw TestSetupError("private redis-server on port \(port) did not start; see \(directory.path)/redis.log") }
    }

    func kill() async {
        guard let p = process else { return }
        process = nil
        p.signal(SIGKILL)
        _ = await p.wait()
    }

    func stop() async {
        await kill()
        try? FileManager.default.removeItem(at: directory)
    }

    deinit {
        if let p = process {
            p.signal(SIGKILL)
            var status: Int32 = 0
            _ = waitpid(p.pid, &status, 0)
        }
        try? FileManager.default.removeItem(at: directory)
    }
}
