import ConveyorPostgres
import ConveyorTesting
import Foundation
import Synchronization
import Testing

/// `PostgresClient.query` batches statements of concurrent callers into libpq pipelines: many
/// callers on a small pool, so batches form, and every caller must still get exactly its own outcome.
@Suite("Postgres client: pipelined single statements")
struct PostgresPipelineTests {
    /// Inserts racing on a unique key, with a division by zero and parameterless statements mixed
    /// in: each statement is its own transaction, so a failure in the middle of a batch neither
    /// rolls back nor fails its neighbours.
    @Test func concurrentSuccessesAndFailuresEachGetTheirOwnOutcome() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 2)
        try await pg.query("CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL)")
        // Every 7th id exists already: inserting it again is a unique violation.
        try await pg.query("INSERT INTO items SELECT i, 'old' FROM generate_series(0, 299, 7) AS i")
        enum Outcome: Equatable { case inserted(Int), duplicate, divisionByZero, selected(Int), parameterless }
        let outcomes = try await withThrowingTaskGroup(of: (Int, Outcome).self) { group in
            for i in 0..<300 {
                group.addTask {
                    switch i % 10 {
                    case 3:
                        do {
                            try await pg.query("SELECT 1 / ($1::int - $1::int) AS x", [.int(i)])
                            Issue.record("division by zero must fail")
                        } catch let error as PostgresError {
                            #expect(error.sqlState == "22012", "\(error)")
                            #expect(error.code == .server)
                        }
                        return (i, .divisionByZero)
                    case 5:
                        let n = try await pg.query("SELECT $1::int * 2 AS n", [.int(i)]).first?["n"].int
                        #expect(n == i * 2)
                        return (i, .selected(i))
                    case 9:
                        #expect(try await pg.query("SELECT 42 AS answer").first?["answer"].int == 42)
                        return (i, .parameterless)
                    default:
                        do {
                            let row = try await pg.query("INSERT INTO items (id, note) VALUES ($1, $2) RETURNING id, note",
                                                         [.int(i), .text("new \(i)")]).first
                            #expect(row?["id"].int == i)
                            #expect(row?["note"].string == "new \(i)")
                            return (i, .inserted(i))
                        } catch let error as PostgresError where error.isUniqueViolation {
                            #expect(error.code == .server)
                            return (i, .duplicate)
                        }
                    }
                }
            }
            var all: [Int: Outcome] = [:]
            for try await (i, outcome) in group { all[i] = outcome }
            return all
        }
        #expect(outcomes.count == 300)
        for i in 0..<300 where ![3, 5, 9].contains(i % 10) {
            #expect(outcomes[i] == (i % 7 == 0 ? .duplicate : .inserted(i)), "statement \(i)")
        }
        let inserted = outcomes.values.filter { if case .inserted = $0 { true } else { false } }.count
        #expect(try await pg.query("SELECT count(*) AS c FROM items WHERE note <> $1", [.text("old")]).first?["c"].int == inserted)
        await pg.close()
    }

    /// Every kind of parameter value, sent concurrently so they travel in shared pipelines.
    @Test func parametersOfEveryKindInBatches() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 2)
        let everyByte = (0..<256).map { UInt8($0) }
        let texts = ["", "it's \"quoted\"; DROP TABLE x; --", "emoji 🚀👩‍💻 and 𝄞", "back\\slash \\x00",
                     String(repeating: "long ", count: 20_000)]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for round in 0..<20 {
                group.addTask {
                    let row = try #require(try await pg.query(
                        "SELECT $1::bigint AS i, $2::bool AS b, $3::float8 AS d, $4::text AS n, $5::text AS t, $6::bytea AS y, $7::bytea AS e, $8::jsonb ->> 'k' AS j",
                        [.int(Int64(round) << 40), .bool(round % 2 == 0), .double(Double(round) + 0.25), .null,
                         .text(texts[round % texts.count]), .bytes(everyByte), .bytes([]), try .json(["k": "v\(round)"])]).first)
                    #expect(try row.decode("i", as: Int64.self) == Int64(round) << 40)
                    #expect(try row.decode("b", as: Bool.self) == (round % 2 == 0))
                    #expect(try row.decode("d", as: Double.self) == Double(round) + 0.25)
                    #expect(try row.decode("n", as: String?.self) == nil)
                    #expect(try row.decode("t", as: String.self) == texts[round % texts.count])
                    #expect(try row.decode("y", as: [UInt8].self) == everyByte)
                    #expect(try row.decode("e", as: [UInt8].self) == [])
                    #expect(row["j"].string == "v\(round)")
                    // The variadic form, in the same stream.
                    let variadic = try await pg.query("SELECT $1::int + $2::int AS s, $3::text AS t", round, 1, "r\(round)").first
                    #expect(variadic?["s"].int == round + 1)
                    #expect(variadic?["t"].string == "r\(round)")
                }
            }
            try await group.waitForAll()
        }
        await pg.close()
    }

    /// A stream of single statements on a one-connection pool does not starve a transaction, and
    /// transaction bodies still run their own statements on the lent connection.
    @Test func transactionsInterleaveWithAStreamOfStatements() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 1)
        try await pg.query("CREATE TABLE counter (id int PRIMARY KEY, n int NOT NULL)")
        try await pg.query("INSERT INTO counter VALUES (1, 0)")
        let deadline = ContinuousClock.now + .seconds(3)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    while ContinuousClock.now < deadline {
                        try await pg.query("UPDATE counter SET n = n + $1 WHERE id = 1", [.int(1)])
                    }
                }
            }
            group.addTask {
                for _ in 0..<20 {
                    let seen = try await pg.transaction { connection in
                        try await connection.query("SELECT n FROM counter WHERE id = $1 FOR UPDATE", [.int(1)]).first?["n"].int
                    }
                    #expect(seen != nil)
                }
            }
            try await group.waitForAll()
        }
        await pg.close()
    }

    /// A slow statement does not hold up statements queued after it while another connection is idle.
    @Test func aSlowStatementDoesNotBlockTheQueue() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 2)
        // Both connections open first: connecting under a loaded machine must not count.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<2 { group.addTask { try await pg.query("SELECT pg_sleep($1)", [.double(0.2)]) } }
            try await group.waitForAll()
        }
        // An order, not a time: the quick statements all finish while the slow one still runs.
        let slowDone = Atomic<Bool>(false)
        async let slow: Void = {
            _ = try await pg.query("SELECT pg_sleep($1)", [.double(5)])
            slowDone.store(true, ordering: .sequentiallyConsistent)
        }()
        try await Task.sleep(for: .milliseconds(100))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<20 {
                group.addTask {
                    let row = try await pg.query("SELECT $1::int AS i", [.int(i)]).first
                    #expect(row?["i"].int == i)
                }
            }
            try await group.waitForAll()
        }
        let slowFinishedFirst = slowDone.load(ordering: .sequentiallyConsistent)
        #expect(!slowFinishedFirst, "the quick statements waited behind the slow one")
        try await slow
        await pg.close()
    }
}
