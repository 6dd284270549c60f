import ArgumentParser
import ConveyorPostgres
import ConveyorRedis
import ConveyorTesting
import ConveyorThreads
import Foundation

/// Our Redis and Postgres clients against the C reference tools on the same servers, side by side:
/// `redis-benchmark` (round trip and pipelined SET/GET) and `pgbench` (single-row INSERT and UPDATE).
struct ClientsBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clients",
        abstract: "Redis client vs redis-benchmark, Postgres client vs pgbench (issue 2; target: ours >= 80% of reference)."
    )

    @Option(help: "Redis server (default: the one of scripts/services.sh).")
    var redisURL = TestEnvironment.redisURL
    @Option(help: "Redis database used by both sides (keys are deleted afterwards).")
    var redisDatabase = 9
    @Option(help: "Requests per round-trip test (SET, then GET).")
    var requests = 200_000
    @Option(help: "Requests per pipelined test (SET, then GET).")
    var pipelinedRequests = 5_000_000
    @Option(help: "Concurrent clients: redis-benchmark connections, our tasks.")
    var redisClients = 50
    @Option(help: "Commands per pipeline.")
    var pipeline = 100
    @Option(help: "Connections in our Redis client's pool (the node's default is 4).")
    var redisPool = 4

    @Option(help: "PostgreSQL server (default: the one of scripts/services.sh); the benchmark uses a database of its own.")
    var postgresURL = TestEnvironment.postgresURL
    @Option(help: "Database created (if missing) for the benchmark tables.")
    var postgresDatabase = "conveyor_bench"
    @Option(help: "Concurrent Postgres clients: pgbench -c, our tasks and our pool size.")
    var pgClients = 8
    @Option(help: "pgbench worker threads (-j).")
    var pgThreads = 2
    @Option(help: "Seconds per Postgres test, each side, each round.")
    var seconds = 5
    @Option(help: "Rounds per test: ours and the reference tool take turns, so a machine that slows down or speeds up during the run weighs on both sides alike; each side's figure is its mean over the rounds.")
    var rounds = 3
    @Option(help: "pgbench query mode (-M). Our client sends parameters apart from the SQL (PQexecParams: the extended protocol), so `extended` is the like-for-like reference; `simple` splices values into the SQL text.")
    var pgbenchMode = "extended"

    @Option(help: "Threads of the event loops that read Postgres results, as `conveyor node`'s event_loop_threads (default: one per CPU).")
    var eventLoopThreads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Folder for the JSON results.")
    var resultsDir = "bench/results"
    @Flag(help: "Skip the Redis part.")
    var noRedis = false
    @Flag(help: "Skip the Postgres part.")
    var noPostgres = false

    func run() async throws {
        #if DEBUG
        print("warning: a debug build; measure with `swift run -c release conveyor-bench clients`\n")
        #endif
        var results: [BenchResult] = []
        var environment: [String: String] = ["cpus": String(ProcessInfo.processInfo.activeProcessorCount),
                                             "event_loop_threads": String(eventLoopThreads),
                                             "rounds": "\(max(1, rounds)) per test, ours and the reference taking turns; Postgres \(seconds) s per side per round"]
        #if DEBUG
        environment["build"] = "debug"
        #else
        environment["build"] = "release"
        #endif
        if !noRedis {
            let redis = RedisBench(options: self)
            environment["redis"] = try await redis.serverVersion()
            results += try await redis.run()
        }
        if !noPostgres {
            let postgres = PostgresBench(options: self)
            environment["postgres"] = try await postgres.serverVersion()
            results += try await postgres.run()
        }
        print("")
        print(BenchResult.table(results))
        print("(info): a diagnostic variant, not counted in the 80% target; see bench/README.md.")
        let report = BenchReport(date: ISO8601DateFormatter().string(from: Date()), environment: environment, results: results)
        let file = try report.write(to: resultsDir)
        print("\nresults written to \(file)")
        let below = results.filter { $0.ratio < 0.8 && !$0.informational }
        if !below.isEmpty {
            print("below 80% of the reference: " + below.map(\.name).joined(separator: ", "))
        }
    }
}

// MARK: - Redis

struct RedisBench {
    let options: ClientsBenchmark
    let value = RedisArgument("xxx") // redis-benchmark's default payload: 3 bytes

    var url: RedisURL {
        get throws {
            var url = try RedisURL(options.redisURL)
            url.database = options.redisDatabase
            return url
        }
    }

    func serverVersion() async throws -> String {
        let client = RedisClient(configuration: .init(url: try url, poolSize: 1))
        defer { Task { await client.close() } }
        let info: String
        do {
            info = try await client.send("INFO", "server").string ?? ""
        } catch {
            throw BenchError("Redis at \(options.redisURL) is not reachable (\(error)). Start it with: \(TestEnvironment.startCommand)")
        }
        return info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("redis_version:") }.map { String($0.dropFirst(14)) } ?? "?"
    }

    func run() async throws -> [BenchResult] {
        guard let tool = findTool("redis-benchmark") else { throw BenchError("redis-benchmark not found; run scripts/install-deps.sh") }
        let url = try self.url
        let client = RedisClient(configuration: .init(url: url, poolSize: options.redisPool))
        defer { Task { await client.close() } }
        let c = options.redisClients
        let p = options.pipeline

        // Warm up: connections open, code paths hot.
        _ = try await roundTrip(client, "SET", total: 20_000)
        _ = try await pipelined(client, "GET", total: 200_000)

        var results: [BenchResult] = []
        let rounds = max(1, options.rounds)
        for (label, pipelined) in [("round trip", false), ("pipelined P=\(p)", true)] {
            let n = pipelined ? options.pipelinedRequests : options.requests
            var arguments = ["-h", url.host, "-p", String(url.port), "--dbnum", String(url.database),
                             "-t", "set,get", "-n", String(n), "-c", String(c), "--csv"]
            if let password = url.password { arguments += ["-a", password] }
            if pipelined { arguments += ["-P", String(p)] }
            // The pool multiplexes the tasks onto a few connections and pipelines what queues up
            // (automatic pipelining). For a like-for-like view of one round trip per connection, the
            // same run with one connection per task, as redis-benchmark -c has.
            let wide = !pipelined && options.redisPool < c ? RedisClient(configuration: .init(url: url, poolSize: c)) : nil
            if let wide { _ = try await roundTrip(wide, "SET", total: 20_000) }
            var ours: (set: [Double], get: [Double]) = ([], [])
            var wideOps: (set: [Double], get: [Double]) = ([], [])
            var reference: (set: [Double], get: [Double]) = ([], [])
            // Ours and redis-benchmark take turns, like the Postgres cases (see bench/README.md).
            for round in 1...rounds {
                print("redis \(label), round \(round)/\(rounds): ours, \(n) SET then \(n) GET, \(c) tasks, pool \(options.redisPool)…")
                ours.set.append(pipelined ? try await self.pipelined(client, "SET", total: n) : try await roundTrip(client, "SET", total: n))
                ours.get.append(pipelined ? try await self.pipelined(client, "GET", total: n) : try await roundTrip(client, "GET", total: n))
                if let wide {
                    print("redis \(label), round \(round)/\(rounds): ours, pool \(c) (one connection per task)…")
                    wideOps.set.append(try await roundTrip(wide, "SET", total: n))
                    wideOps.get.append(try await roundTrip(wide, "GET", total: n))
                }
                print("redis \(label), round \(round)/\(rounds): redis-benchmark \(arguments.filter { $0 != url.password }.joined(separator: " "))…")
                let figures = try Self.parseCSV(try await runTool(tool, arguments))
                guard let refSet = figures["SET"], let refGet = figures["GET"] else {
                    throw BenchError("unexpected redis-benchmark output: \(figures)")
                }
                reference.set.append(refSet)
                reference.get.append(refGet)
            }
            await wide?.close()
            print("redis \(label): ours SET \(ours.set.map(BenchResult.format)) GET \(ours.get.map(BenchResult.format)), redis-benchmark SET \(reference.set.map(BenchResult.format)) GET \(reference.get.map(BenchResult.format))")
            let command = "redis-benchmark -t set,get -n \(n) -c \(c)" + (pipelined ? " -P \(p)" : "")
            results.append(BenchResult(name: "redis \(label) SET", unit: "ops/s", ours: mean(ours.set), reference: mean(reference.set), referenceCommand: command))
            results.append(BenchResult(name: "redis \(label) GET", unit: "ops/s", ours: mean(ours.get), reference: mean(reference.get), referenceCommand: command))
            if wide != nil {
                results.append(BenchResult(name: "redis \(label) SET, pool \(c)", unit: "ops/s", ours: mean(wideOps.set), reference: mean(reference.set),
                                           referenceCommand: command, informational: true))
                results.append(BenchResult(name: "redis \(label) GET, pool \(c)", unit: "ops/s", ours: mean(wideOps.get), reference: mean(reference.get),
                                           referenceCommand: command, informational: true))
            }
        }
        try await client.send("DEL", "bench:key")
        return results
    }

    /// `concurrency` tasks, each sending one command and awaiting its reply, `total` in all.
    func roundTrip(_ client: RedisClient, _ command: RedisArgument, total: Int) async throws -> Double {
        let c = options.redisClients
        let perTask = total / c
        let value = self.value
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<c {
                group.addTask {
                    let key: RedisArgument = "bench:key"
                    for _ in 0..<perTask {
                        if command == "SET" {
                            try await client.send("SET", key, value)
                        } else {
                            let reply = try await client.send("GET", key)
                            if reply.bytes?.count != 3 { throw BenchError("GET returned \(reply)") }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(perTask * c) / (ContinuousClock.now - start).seconds
    }

    /// `concurrency` tasks, each sending pipelines of `pipeline` commands, `total` commands in all.
    func pipelined(_ client: RedisClient, _ command: RedisArgument, total: Int) async throws -> Double {
        let c = options.redisClients
        let p = options.pipeline
        let rounds = max(1, total / (c * p))
        let value = self.value
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<c {
                group.addTask {
                    let key: RedisArgument = "bench:key"
                    let one: RedisCommand = command == "SET" ? ["SET", key, value] : ["GET", key]
                    let batch = [RedisCommand](repeating: one, count: p)
                    for _ in 0..<rounds {
                        let replies = try await client.pipeline(batch)
                        if replies.count != p { throw BenchError("pipeline returned \(replies.count) replies") }
                        if case .error(let message) = replies[0] { throw BenchError("redis error: \(message)") }
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(rounds * c * p) / (ContinuousClock.now - start).seconds
    }

    /// `"SET","86805.56",…` → ["SET": 86805.56].
    static func parseCSV(_ text: String) throws -> [String: Double] {
        var out: [String: Double] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\" ")) }
            if fields.count >= 2, let rps = Double(fields[1]) { out[fields[0]] = rps }
        }
        return out
    }
}

// MARK: - Postgres

struct PostgresBench {
    let options: ClientsBenchmark
    static let updateRows = 10_000

    var url: String {
        guard var components = URLComponents(string: options.postgresURL) else { return options.postgresURL }
        components.path = "/" + options.postgresDatabase
        return components.string ?? options.postgresURL
    }

    func serverVersion() async throws -> String {
        let admin = PostgresClient(url: options.postgresURL, poolSize: 1)
        defer { Task { await admin.close() } }
        do {
            let version = try await admin.query("SHOW server_version").first?["server_version"].string ?? "?"
            let exists = try await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [.text(options.postgresDatabase)]).first != nil
            if !exists {
                // A database name cannot be a parameter; this one comes from the command line, quoted as an identifier.
                try await admin.query("CREATE DATABASE \"\(options.postgresDatabase.replacingOccurrences(of: "\"", with: "\"\""))\"")
            }
            return version
        } catch {
            throw BenchError("PostgreSQL at \(options.postgresURL) is not reachable (\(error)). Start it with: \(TestEnvironment.startCommand)")
        }
    }

    func run() async throws -> [BenchResult] {
        guard let tool = findTool("pgbench") else { throw BenchError("pgbench not found; run scripts/install-deps.sh") }
        let c = options.pgClients
        let client = PostgresClient(configuration: .init(url: url, poolSize: c, eventLoops: options.eventLoopThreads))
        defer { Task { await client.close() } }
        try await client.query("""
            DROP TABLE IF EXISTS bench_insert, bench_update;
            CREATE TABLE bench_insert (id bigserial PRIMARY KEY, k integer NOT NULL, v text NOT NULL);
            CREATE TABLE bench_update (id integer PRIMARY KEY, v bigint NOT NULL DEFAULT 0);
            INSERT INTO bench_update (id) SELECT generate_series(1, \(Self.updateRows));
            """)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-pgbench-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        struct Case {
            var name: String
            var script: String
            var ours: @Sendable (PostgresClient, inout BenchRandom) async throws -> Void
            /// Also measured with the tasks preferring the client's event loop (single statements only).
            var onLoopToo = true
        }
        let rows = Self.updateRows
        let cases: [Case] = [
            Case(name: "postgres INSERT 1 row", script: """
                \\set k random(1, 1000000000)
                INSERT INTO bench_insert (k, v) VALUES (:k, 'payload');
                """, ours: { pg, random in
                    try await pg.query("INSERT INTO bench_insert (k, v) VALUES ($1, $2)", [.int(random.next(in: 1...1_000_000_000)), .text("payload")])
                }),
            Case(name: "postgres UPDATE 1 row", script: """
                \\set id random(1, \(rows))
                UPDATE bench_update SET v = v + 1 WHERE id = :id;
                """, ours: { pg, random in
                    try await pg.query("UPDATE bench_update SET v = v + 1 WHERE id = $1", [.int(random.next(in: 1...rows))])
                }),
            Case(name: "postgres INSERT in transaction {}", script: """
                \\set k random(1, 1000000000)
                BEGIN ISOLATION LEVEL READ COMMITTED;
                INSERT INTO bench_insert (k, v) VALUES (:k, 'payload');
                COMMIT;
                """, ours: { pg, random in
                    let k = random.next(in: 1...1_000_000_000)
                    _ = try await pg.transaction { connection in
                        try await connection.query("INSERT INTO bench_insert (k, v) VALUES ($1, $2)", [.int(k), .text("payload")])
                    }
                }, onLoopToo: false),
        ]
        // Warm up every connection of the pool.
        _ = try await measure(client, seconds: 1, onLoop: false, cases[0].ours)

        let pgURL = URLComponents(string: url)
        var results: [BenchResult] = []
        for (i, benchCase) in cases.enumerated() {
            let script = folder.appendingPathComponent("case\(i).sql")
            try benchCase.script.write(to: script, atomically: true, encoding: .utf8)
            var arguments = ["-n", "-M", options.pgbenchMode, "-c", String(c), "-j", String(options.pgThreads), "-T", String(options.seconds), "-f", script.path]
            if let host = pgURL?.host { arguments += ["-h", host] }
            if let port = pgURL?.port { arguments += ["-p", String(port)] }
            if let user = pgURL?.user { arguments += ["-U", user] }
            arguments.append(options.postgresDatabase)
            var ours: [Double] = []
            var oursOnLoop: [Double] = []
            var reference: [Double] = []
            for round in 1...max(1, options.rounds) {
                let of = "round \(round)/\(max(1, options.rounds))"
                try await reset(client)
                print("\(benchCase.name), \(of): ours, \(c) tasks on Swift's default pool, \(options.eventLoopThreads) event loops, pool \(c), \(options.seconds) s…")
                ours.append(try await measure(client, seconds: options.seconds, onLoop: false, benchCase.ours))
                if benchCase.onLoopToo {
                    try await reset(client)
                    print("\(benchCase.name), \(of): ours, \(c) tasks preferring the client's event loop, pool \(c), \(options.seconds) s…")
                    oursOnLoop.append(try await measure(client, seconds: options.seconds, onLoop: true, benchCase.ours))
                }
                try await reset(client)
                print("\(benchCase.name), \(of): pgbench \(arguments.joined(separator: " "))…")
                let output = try await runTool(tool, arguments)
                guard let line = output.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("tps = ") }),
                      let tps = Double(line.dropFirst(6).prefix { $0 != " " }) else {
                    throw BenchError("no tps in pgbench output:\n\(output)")
                }
                reference.append(tps)
            }
            print("\(benchCase.name): ours \(ours.map(BenchResult.format)), on the loop \(oursOnLoop.map(BenchResult.format)), pgbench \(reference.map(BenchResult.format))")
            let tps = mean(reference)
            let command = "pgbench -n -M \(options.pgbenchMode) -c \(c) -j \(options.pgThreads) -T \(options.seconds) -f <script>"
            results.append(BenchResult(name: benchCase.name, unit: "tx/s", ours: mean(ours), reference: tps,
                                       referenceCommand: command, script: benchCase.script))
            if !oursOnLoop.isEmpty {
                results.append(BenchResult(name: benchCase.name + ", tasks preferring the client's loop", unit: "tx/s", ours: mean(oursOnLoop),
                                           reference: tps, referenceCommand: command, script: benchCase.script, informational: true))
            }
        }
        try await client.query("DROP TABLE IF EXISTS bench_insert, bench_update")
        return results
    }

    /// Both sides start from the same table sizes and no dead tuples.
    private func reset(_ client: PostgresClient) async throws {
        try await client.query("TRUNCATE bench_insert")
        try await client.query("UPDATE bench_update SET v = 0")
        try await client.query("VACUUM ANALYZE bench_insert, bench_update")
        try await client.query("CHECKPOINT")
    }

    /// `pgClients` tasks run `body` in a loop for `seconds`, on Swift's default pool (as in a node)
    /// or preferring the client's event loop (`PostgresClient.executor`); returns calls per second.
    private func measure(_ client: PostgresClient, seconds: Int, onLoop: Bool,
                         _ body: @escaping @Sendable (PostgresClient, inout BenchRandom) async throws -> Void) async throws -> Double {
        let start = ContinuousClock.now
        let deadline = start + .seconds(seconds)
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<options.pgClients {
                group.addTask(executorPreference: onLoop ? client.executor : nil) {
                    var n = 0
                    var random = BenchRandom(seed: UInt64(task))
                    while ContinuousClock.now < deadline {
                        try await body(client, &random)
                        n += 1
                    }
                    return n
                }
            }
            return try await group.reduce(0, +)
        }
        return Double(total) / (ContinuousClock.now - start).seconds
    }
}

// MARK: - Report

/// A side's figure over its rounds.
func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(max(1, values.count)) }

/// SplitMix64: the benchmark's values without a `getrandom` system call per statement
/// (`Int.random` makes one on Linux; pgbench's `random()` is a user-space generator too).
struct BenchRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1 }

    mutating func next(in range: ClosedRange<Int>) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return range.lowerBound + Int(z % UInt64(range.count))
    }
}

struct BenchResult: Codable, Sendable {
    var name: String
    var unit: String
    var ours: Double
    var reference: Double
    var ratio: Double
    var referenceCommand: String
    var script: String?
    /// A diagnostic variant (not the client's configuration in a node), left out of the 80% target.
    var informational: Bool

    init(name: String, unit: String, ours: Double, reference: Double, referenceCommand: String, script: String? = nil,
         informational: Bool = false) {
        self.name = name
        self.unit = unit
        self.ours = ours
        self.reference = reference
        self.ratio = reference > 0 ? ours / reference : 0
        self.referenceCommand = referenceCommand
        self.script = script
        self.informational = informational
    }

    static func table(_ results: [BenchResult]) -> String {
        let header = ["benchmark", "unit", "ours", "reference", "ratio"]
        let rows = results.map { r in
            [r.name + (r.informational ? " (info)" : ""), r.unit, format(r.ours), format(r.reference),
             String(format: "%.0f%%", r.ratio * 100) + (r.ratio < 0.8 && !r.informational ? " !" : "")]
        }
        let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == 0 || i == 1 ? cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[i] - cell.count) + cell
            }.joined(separator: "  ")
        }
        return ([line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")] + rows.map(line)).joined(separator: "\n")
    }

    static func format(_ value: Double) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.maximumFractionDigits = 0
        return formatter.string(from: NSNumber(value: value)) ?? String(Int(value))
    }
}

struct BenchReport: Codable {
    var date: String
    var environment: [String: String]
    var results: [BenchResult]

    func write(to folder: String) throws -> String {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let day = String(date.prefix(10))
        let path = (folder as NSString).appendingPathComponent("clients-\(day).json")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: path))
        return path
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
