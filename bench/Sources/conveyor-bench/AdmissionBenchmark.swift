import ArgumentParser
import ConveyorCore
import ConveyorRedis
import ConveyorScheduler
import ConveyorTesting
import Foundation

/// Issue 3's benchmark: the admission script against an empty `EVALSHA` on the same Redis, and the
/// scheduler's whole created → queued path for many jobs over many owners.
struct AdmissionBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admission",
        abstract: "admit.lua calls/s vs an empty EVALSHA; end-to-end created → queued jobs/s through the scheduler.")

    @Option(help: "Owners.") var owners = 100
    @Option(help: "Jobs per owner in the script test.") var scriptJobsPerOwner = 500
    @Option(help: "Owner limit in the script test (each call admits up to this many, then they are released).") var limit = 5
    @Option(help: "Concurrent tasks calling the scripts.") var tasks = 32
    @Option(help: "Seconds for the empty EVALSHA test.") var seconds = 5
    @Option(help: "Jobs in the end-to-end test.") var jobs = 10_000
    @Option(help: "Scheduler services in the end-to-end test.") var schedulers = 2
    @Option(help: "Folder for the JSON results.") var resultsDir = "bench/results"

    func run() async throws {
        #if DEBUG
        print("warning: a debug build; measure with `swift run -c release conveyor-bench admission`\n")
        #endif
        let context = try await TestEnvironment.context { $0.redisPoolSize = 4; $0.postgresPoolSize = 8; $0.leaseSeconds = 600 }
        let empty = try await emptyScriptCalls(context)
        let (calls, admitted, elapsed) = try await admissionCycles(context)
        let admitRate = Double(calls) / elapsed
        print(String(format: "empty EVALSHA:        %10.0f calls/s (%d tasks)", empty, tasks))
        print(String(format: "admit.lua + release:  %10.0f admission calls/s, %.0f jobs admitted/s (%.0f%% of empty EVALSHA)",
                     admitRate, Double(admitted) / elapsed, admitRate / empty * 100))
        await context.close()

        let e2e = try await TestEnvironment.context { $0.redisPoolSize = 4; $0.postgresPoolSize = 4; $0.leaseSeconds = 600; $0.sweepIntervalSeconds = 60 }
        let queuedRate = try await endToEnd(e2e)
        print(String(format: "created → queued:     %10.0f jobs/s (%d jobs, %d owners, %d scheduler services)", queuedRate, jobs, owners, schedulers))
        await e2e.close()

        let report: [String: String] = [
            "date": ISO8601DateFormatter().string(from: Date()), "cpus": String(ProcessInfo.processInfo.activeProcessorCount),
            "empty_evalsha_calls_per_s": String(format: "%.0f", empty), "admit_calls_per_s": String(format: "%.0f", admitRate),
            "admitted_jobs_per_s": String(format: "%.0f", Double(admitted) / elapsed), "admit_vs_empty": String(format: "%.2f", admitRate / empty),
            "created_to_queued_jobs_per_s": String(format: "%.0f", queuedRate), "jobs": String(jobs), "owners": String(owners), "tasks": String(tasks),
        ]
        try FileManager.default.createDirectory(atPath: resultsDir, withIntermediateDirectories: true)
        let path = "\(resultsDir)/admission-\(report["date"]!.prefix(10)).json"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(report).write(to: URL(fileURLWithPath: path))
        print("results written to \(path)")
    }

    /// The floor: a script that does nothing, called by SHA from the same client and concurrency.
    func emptyScriptCalls(_ context: NodeContext) async throws -> Double {
        let script = RedisScript(name: "empty", source: "return 1")
        try await context.redis.evaluate(script, keys: [], args: [])
        let deadline = ContinuousClock.now + .seconds(seconds)
        let start = ContinuousClock.now
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<tasks {
                group.addTask {
                    var n = 0
                    while ContinuousClock.now < deadline {
                        try await context.redis.evaluate(script, keys: [], args: [])
                        n += 1
                    }
                    return n
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(total) / (ContinuousClock.now - start).seconds
    }

    /// Each task owns some owners and loops: admit (up to `limit`), then release what was admitted,
    /// until every waiting job has been admitted once.
    func admissionCycles(_ context: NodeContext) async throws -> (calls: Int, admitted: Int, seconds: Double) {
        let slots = context.slots
        for o in 0..<owners {
            let owner = "bench\(o)"
            try await slots.setLimits(owner: owner, max: limit)
            var batch: [SlotBook.WaitingJob] = []
            for j in 0..<scriptJobsPerOwner {
                batch.append(.init(job: Int64(o * scriptJobsPerOwner + j + 1), repo: "\(owner)/app", queue: "default", createdMillis: Int64(j)))
            }
            try await slots.enqueue(owner: owner, jobs: batch)
        }
        let start = ContinuousClock.now
        let (calls, admitted) = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for t in 0..<tasks {
                group.addTask {
                    var calls = 0, admitted = 0
                    for o in stride(from: t, to: owners, by: tasks) {
                        let owner = "bench\(o)"
                        while true {
                            let admission = try await slots.admit(owner: owner, nowMillis: nowMillis())
                            calls += 1
                            if admission.admitted.isEmpty { break }
                            admitted += admission.admitted.count
                            _ = try await context.redis.pipeline([["ZREM", RedisArgument(context.keys.running(owner))] + admission.admitted.map { RedisArgument($0) }])
                        }
                    }
                    return (calls, admitted)
                }
            }
            return try await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
        }
        return (calls, admitted, (ContinuousClock.now - start).seconds)
    }

    /// Jobs already in Postgres and in the owners' waiting sets; schedulers woken once per owner;
    /// measured until every job is `queued` in Postgres and on its queue stream.
    func endToEnd(_ context: NodeContext) async throws -> Double {
        let perOwner = max(1, jobs / owners)
        for o in 0..<owners {
            let login = "e2e\(o)"
            let owner = try await context.postgres.query("INSERT INTO owners (login, concurrency_limit) VALUES ($1, $2) RETURNING id", [.text(login), .int(perOwner)]).first!["id"].int64!
            let repo = try await context.postgres.query("INSERT INTO repositories (owner_id, slug, url) VALUES ($1, $2, 'file:///bench') RETURNING id",
                                                        [.int(owner), .text("\(login)/app")]).first!["id"].int64!
            let request = try await context.postgres.query("INSERT INTO requests (repository_id, event_type, branch, sha) VALUES ($1, 'api', 'main', 'abcdef1') RETURNING id", [.int(repo)]).first!["id"].int64!
            let build = try await context.postgres.query("INSERT INTO builds (repository_id, request_id, number, event_type, branch, sha, config) VALUES ($1, $2, 1, 'api', 'main', 'abcdef1', '{}') RETURNING id",
                                                         [.int(repo), .int(request)]).first!["id"].int64!
            let ids = try await context.postgres.query("""
                INSERT INTO jobs (build_id, repository_id, owner_id, number, position, queue, config)
                SELECT $1, $2, $3, '1.' || n, n, 'default', '{}'::jsonb FROM generate_series(1, $4::int) n RETURNING id
                """, [.int(build), .int(repo), .int(owner), .int(perOwner)])
            try await context.slots.setLimits(owner: login, max: perOwner)
            // Put in the waiting sets without waking the schedulers yet.
            var args: [RedisArgument] = [RedisArgument(login)]
            for row in ids.rows { args += [RedisArgument(row["id"].int64!), RedisArgument(Double(row["id"].int64!)), RedisArgument("\(login)/app\tdefault")] }
            try await context.redis.evaluate(context.scripts.enqueue, keys: [RedisArgument(context.keys.waiting(login)), RedisArgument(context.keys.running(login)),
                                                                             RedisArgument(context.keys.jobInfo(login)), RedisArgument(context.keys.ownersWaiting)], args: args)
        }
        let total = perOwner * owners
        let start = ContinuousClock.now
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<schedulers {
                let node = i == 0 ? context : try await TestEnvironment.sibling(of: context)
                group.addTask { try await SchedulerService(context: node).run() }
            }
            for o in 0..<owners { try await context.slots.wake(owner: "e2e\(o)", reason: "bench") }
            while true {
                let queued = try await context.redis.xlen(context.keys.queue("default"))
                if queued >= total { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            let elapsed = (ContinuousClock.now - start).seconds
            group.cancelAll()
            return Double(total) / elapsed
        }
    }
}
