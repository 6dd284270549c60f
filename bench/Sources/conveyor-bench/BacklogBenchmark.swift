import ArgumentParser
import ConveyorCore
import ConveyorRedis
import ConveyorScheduler
import ConveyorTesting
import Foundation

/// Issue 25 item 1: how the scheduler's costs grow with the backlog. For each size (N waiting jobs over
/// M owners, generated in PostgreSQL with one `generate_series` statement per table) on a fresh database
/// and key prefix: the Redis rebuild of a fresh prefix (`RedisRepair`, what the first admission runs), Redis
/// memory per waiting job, the first sweep (admits up to the owner limit: created → queued), and a steady
/// sweep (every owner at its limit). Each is printed per job next to a reference measured in the same run:
/// bare `ZADD`s of as many members (memory), and one pipelined empty `EVALSHA` per owner (sweep).
/// The API latencies with a million job rows are measured by bench/backlog/run.sh.
struct BacklogBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backlog",
        abstract: "Scheduler costs per waiting job against backlog size (repair, Redis memory, created → queued, sweep).")

    @Option(help: "Backlog sizes, jobs x owners, comma-separated.") var sizes = "1000x100,10000x1000,100000x10000,100000x100"
    @Option(help: "Owner limit (jobs admitted per owner by the first sweep).") var limit = 5
    @Option(help: "Steady sweeps timed per size (the median is reported).") var sweeps = 3

    struct Row {
        var jobs = 0, owners = 0, admitted = 0
        var repair = 0.0, firstSweep = 0.0, steadySweep = 0.0, evalshaPerOwner = 0.0
        var bytesPerJob = 0.0, zaddBytesPerJob = 0.0
    }

    func run() async throws {
        #if DEBUG
        print("warning: a debug build; measure with `swift build -c release --product conveyor-bench`\n")
        #endif
        // A cluster's first start: the first admission of a fresh prefix runs the repair on an empty database.
        let fresh = try await TestEnvironment.context(roles: [.scheduler])
        let first = try await timed { _ = try await fresh.slots.admit(owner: "nobody", nowMillis: nowMillis()) }
        print(String(format: "first admission of a fresh prefix (runs RedisRepair on an empty database): %.1f ms", first * 1000))
        await fresh.close()
        var rows: [Row] = []
        for size in sizes.split(separator: ",") {
            let parts = size.split(separator: "x").compactMap { Int($0) }
            guard parts.count == 2, parts[0] >= parts[1], parts[1] > 0 else { throw ValidationError("--sizes: '\(size)' is not JOBSxOWNERS with JOBS ≥ OWNERS > 0") }
            let row = try await measure(jobs: parts[0], owners: parts[1])
            rows.append(row)
            print(String(format: "%7d jobs / %5d owners: repair %.2f s, %.0f B/job (bare ZADD %.0f B), first sweep %.2f s for %d admitted, steady sweep %.3f s",
                         row.jobs, row.owners, row.repair, row.bytesPerJob, row.zaddBytesPerJob, row.firstSweep, row.admitted, row.steadySweep))
        }
        print("\n| waiting jobs | owners | repair µs/job | Redis B/job (bare ZADD) | created → queued µs/admitted job (admitted) | steady sweep µs/waiting job | steady sweep µs/owner (empty EVALSHA µs/owner) |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in rows {
            print(String(format: "| %d | %d | %.1f | %.0f (%.0f) | %.1f (%d) | %.2f | %.1f (%.1f) |", r.jobs, r.owners, r.repair / Double(r.jobs) * 1e6,
                         r.bytesPerJob, r.zaddBytesPerJob, r.firstSweep / Double(max(1, r.admitted)) * 1e6, r.admitted,
                         r.steadySweep / Double(r.jobs) * 1e6, r.steadySweep / Double(r.owners) * 1e6, r.evalshaPerOwner * 1e6))
        }
    }

    func measure(jobs: Int, owners: Int) async throws -> Row {
        // Sweep interval 60 s: the lost-job query then looks at jobs older than 120 s, which the generated ones are.
        let context = try await TestEnvironment.context(roles: [.scheduler]) { $0.redisPoolSize = 4; $0.postgresPoolSize = 4; $0.leaseSeconds = 600; $0.sweepIntervalSeconds = 60; $0.defaultOwnerLimit = limit }
        var row = Row(jobs: jobs, owners: owners)
        try await generate(context, jobs: jobs, owners: owners)
        let before = try await usedMemory(context)
        row.repair = try await timed { _ = try await RedisRepair(context: context).repair(reason: "bench backlog") }
        row.bytesPerJob = Double(try await usedMemory(context) - before) / Double(jobs)

        // The reference: the same number of members in one bare sorted set per owner.
        let refBefore = try await usedMemory(context)
        let perOwner = jobs / owners
        for o in 0..<owners {
            let args = (0..<perOwner).flatMap { j in [RedisArgument(j), RedisArgument(o * perOwner + j + 1)] }
            try await context.redis.send(["ZADD", RedisArgument("\(context.keys.prefix):benchref:\(o)")] + args)
        }
        row.zaddBytesPerJob = Double(try await usedMemory(context) - refBefore) / Double(jobs)
        for start in stride(from: 0, to: owners, by: 1000) {
            try await context.redis.send(["DEL"] + (start..<min(owners, start + 1000)).map { RedisArgument("\(context.keys.prefix):benchref:\($0)") })
        }

        let scheduler = SchedulerService(context: context)
        row.firstSweep = try await timed { try await scheduler.sweep() }
        row.admitted = try await context.postgres.query("SELECT count(*) AS n FROM jobs WHERE state = 'queued'").first?["n"].int ?? 0
        var steady: [Double] = []
        for _ in 0..<max(1, sweeps) { steady.append(try await timed { try await scheduler.sweep() }) }
        row.steadySweep = steady.sorted()[steady.count / 2]

        let empty = RedisScript(name: "empty", source: "return 1")
        try await context.redis.evaluate(empty, keys: [], args: [])
        let ref = try await timed {
            for start in stride(from: 0, to: owners, by: 100) {
                _ = try await context.redis.evaluateMany(empty, calls: (start..<min(owners, start + 100)).map { _ in (keys: [RedisArgument](), args: [RedisArgument]()) })
            }
        }
        row.evalshaPerOwner = ref / Double(owners)
        await context.close()
        return row
    }

    /// M owners, a repository and a build each, N created jobs spread evenly, created an hour ago.
    func generate(_ context: NodeContext, jobs: Int, owners: Int) async throws {
        let pg = context.postgres
        try await pg.query("INSERT INTO owners (login) SELECT 'b' || i FROM generate_series(1, $1::int) i", [.int(owners)])
        try await pg.query("INSERT INTO repositories (owner_id, slug, url) SELECT id, login || '/app', 'file:///bench' FROM owners")
        try await pg.query("INSERT INTO requests (repository_id, event_type, branch, sha, state) SELECT id, 'api', 'main', 'abcdef1', 'accepted' FROM repositories")
        try await pg.query("""
            INSERT INTO builds (repository_id, request_id, number, event_type, branch, sha, config, state, created_at)
            SELECT repository_id, id, 1, 'api', 'main', 'abcdef1', '{}', 'created', now() - interval '1 hour' FROM requests
            """)
        try await pg.query("""
            INSERT INTO jobs (build_id, repository_id, owner_id, number, position, queue, config, created_at)
            SELECT b.id, b.repository_id, r.owner_id, '1.' || n, n, 'default', '{}'::jsonb, now() - interval '1 hour'
            FROM builds b JOIN repositories r ON r.id = b.repository_id, generate_series(1, $1::int) n
            """, [.int(jobs / owners)])
        try await pg.query("ANALYZE")
    }

    func usedMemory(_ context: NodeContext) async throws -> Int {
        let info = try await context.redis.send(["MEMORY", "STATS"]).array ?? []
        for i in stride(from: 0, to: info.count - 1, by: 2) where info[i].string == "total.allocated" { return Int(info[i + 1].int ?? 0) }
        return 0
    }

    func timed(_ body: () async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        try await body()
        return (ContinuousClock.now - start).seconds
    }
}
