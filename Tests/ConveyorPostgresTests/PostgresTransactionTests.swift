import ConveyorPostgres
import ConveyorTesting
import Foundation
import Testing

/// Each test runs both ways a lent connection works: its task on the connection's own thread
/// (`lentStatementsOnLoop: false`, the default outside a node), and its statements sent from where the
/// task runs and read by the statement loop (`true`, a node's default on its event loops).
@Suite("Postgres client: transactions")
struct PostgresTransactionTests {
    struct Abort: Error {}

    @Test(arguments: [false, true])
    func transactionCommitsAndReturnsItsValue(onLoop: Bool) async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 1, lentStatementsOnLoop: onLoop)
        try await pg.query("CREATE TABLE items (id int PRIMARY KEY, name text)")
        let count = try await pg.transaction { connection in
            _ = try await connection.query("INSERT INTO items VALUES ($1, $2)", [.int(1), .text("one")])
            _ = try await connection.query("INSERT INTO items VALUES ($1, $2)", [.int(2), .text("two")])
            return try await connection.query("SELECT count(*) AS c FROM items").first?["c"].int ?? -1
        }
        #expect(count == 2)
        #expect(try await pg.query("SELECT count(*) AS c FROM items").first?["c"].int == 2)
        await pg.close()
    }

    /// A statement failing half-way through rolls back everything before it; so does a Swift error
    /// thrown by the body. The connection goes back to the pool clean (not in an aborted transaction).
    @Test(arguments: [false, true])
    func transactionRolledBackOnError(onLoop: Bool) async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 1, lentStatementsOnLoop: onLoop)
        try await pg.query("CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL CHECK (balance >= 0))")
        try await pg.query("INSERT INTO accounts VALUES (1, 100), (2, 0)")

        do {
            try await pg.transaction { connection in
                _ = try await connection.query("UPDATE accounts SET balance = balance - 60 WHERE id = 1")
                _ = try await connection.query("UPDATE accounts SET balance = balance + 60 WHERE id = 2")
                _ = try await connection.query("INSERT INTO accounts VALUES (3, 5)")
                _ = try await connection.query("INSERT INTO accounts VALUES (1, 5)") // duplicate key
            }
            Issue.record("the transaction must fail")
        } catch let error as PostgresError {
            #expect(error.isUniqueViolation, "\(error)")
        }
        #expect(try await balances(pg) == [1: 100, 2: 0])

        do {
            try await pg.transaction { connection in
                _ = try await connection.query("UPDATE accounts SET balance = 0 WHERE id = 1")
                throw Abort()
            }
            Issue.record("the transaction must fail")
        } catch is Abort {}
        #expect(try await balances(pg) == [1: 100, 2: 0])

        // A check violation in the middle of the body.
        await #expect(throws: PostgresError.self) {
            try await pg.transaction { connection in
                _ = try await connection.query("UPDATE accounts SET balance = balance + 1 WHERE id = 2")
                _ = try await connection.query("UPDATE accounts SET balance = balance - 1000 WHERE id = 1")
            }
        }
        #expect(try await balances(pg) == [1: 100, 2: 0])
        // The single pooled connection is not left inside a transaction.
        #expect(try await pg.query("SELECT now() = statement_timestamp() AS outside").first?["outside"].bool == true)
        await pg.close()
    }

    /// Two SERIALIZABLE transactions with a write-skew conflict: each reads what the other writes.
    /// One fails with 40001 and is retried by `transaction`; both end up committed.
    @Test(.timeLimit(.minutes(1)), arguments: [false, true])
    func serializationFailureIsRetried(onLoop: Bool) async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 2, lentStatementsOnLoop: onLoop)
        try await pg.query("CREATE TABLE oncall (id serial PRIMARY KEY, kind text NOT NULL)")
        let gate = Gate(parties: 2)
        let attempts = Attempts()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (reads, writes) in [("a", "b"), ("b", "a")] {
                group.addTask {
                    try await pg.transaction(isolation: .serializable) { connection in
                        let attempt = await attempts.next(reads)
                        _ = try await connection.query("SELECT count(*) AS c FROM oncall WHERE kind = $1", [.text(reads)])
                        // First attempts wait for each other, so both have read before either writes.
                        if attempt == 1 { try await gate.arriveAndWait() }
                        _ = try await connection.query("INSERT INTO oncall (kind) VALUES ($1)", [.text(writes)])
                    }
                }
            }
            try await group.waitForAll()
        }
        let counts = await attempts.counts
        #expect(counts.values.reduce(0, +) >= 3, "expected at least one retry, got \(counts)")
        #expect(try await pg.query("SELECT kind FROM oncall ORDER BY kind").rows.compactMap { $0["kind"].string } == ["a", "b"])
        await pg.close()
    }

    /// Without retries the same conflict surfaces as a retryable failure (SQLSTATE 40001).
    @Test(.timeLimit(.minutes(1)), arguments: [false, true])
    func serializationFailureIsRetryable(onLoop: Bool) async throws {
        let (admin, url) = try await TestEnvironment.freshPostgres()
        await admin.close()
        let pg = PostgresClient(configuration: .init(url: url, poolSize: 2, maxTransactionRetries: 0, lentStatementsOnLoop: onLoop))
        try await pg.query("CREATE TABLE oncall (id serial PRIMARY KEY, kind text NOT NULL)")
        let gate = Gate(parties: 2)
        let outcomes = try await withThrowingTaskGroup(of: PostgresError?.self) { group in
            for (reads, writes) in [("a", "b"), ("b", "a")] {
                group.addTask {
                    do {
                        try await pg.transaction(isolation: .serializable) { connection in
                            _ = try await connection.query("SELECT count(*) AS c FROM oncall WHERE kind = $1", [.text(reads)])
                            try await gate.arriveAndWait()
                            _ = try await connection.query("INSERT INTO oncall (kind) VALUES ($1)", [.text(writes)])
                        }
                        return nil
                    } catch let error as PostgresError {
                        return error
                    }
                }
            }
            var outcomes: [PostgresError?] = []
            for try await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        let failures = outcomes.compactMap { $0 }
        #expect(failures.count == 1, "\(outcomes)")
        #expect(failures.allSatisfy { $0.isRetryableTransactionFailure && $0.sqlState == "40001" }, "\(failures)")
        #expect(try await pg.query("SELECT count(*) AS c FROM oncall").first?["c"].int == 1)
        await pg.close()
    }

    private func balances(_ pg: PostgresClient) async throws -> [Int: Int] {
        var out: [Int: Int] = [:]
        for row in try await pg.query("SELECT id, balance FROM accounts ORDER BY id").rows {
            out[try row.decode("id")] = try row.decode("balance")
        }
        return out
    }
}

/// Lets `parties` tasks meet; gives up after a timeout so a broken test fails instead of hanging.
actor Gate {
    let parties: Int
    private var arrived = 0
    init(parties: Int) { self.parties = parties }

    func arriveAndWait(timeout: Duration = .seconds(10)) async throws {
        arrived += 1
        let deadline = ContinuousClock.now + timeout
        while arrived < parties {
            if ContinuousClock.now > deadline { throw TestSetupError("gate: only \(arrived) of \(parties) arrived") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

actor Attempts {
    private(set) var counts: [String: Int] = [:]
    func next(_ name: String) -> Int {
        counts[name, default: 0] += 1
        return counts[name]!
    }
}
