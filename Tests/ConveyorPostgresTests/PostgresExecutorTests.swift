import ConveyorPostgres
import ConveyorTesting
import Foundation
import Testing

/// Tasks on `PostgresClient.executor` (the statement loop's thread): each result resumes the task
/// on the thread that read it, which sends its next statement.
@Suite("Postgres client: tasks on the client's executor")
struct PostgresExecutorTests {
    /// Many tasks on the executor, more than connections (so statements queue and go out as
    /// pipelines): every statement gets its own outcome, failures included, and transactions
    /// (which move to their connection's thread) work from there too.
    @Test func statementsAndTransactionsFromTasksOnTheExecutor() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 3)
        try await pg.query("CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)")
        try await pg.query("INSERT INTO counters SELECT i, 0 FROM generate_series(0, 9) AS i")
        let failures = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<24 {
                group.addTask(executorPreference: pg.executor) {
                    var failed = 0
                    for step in 0..<40 {
                        let id = (task + step) % 10
                        if step % 13 == 12 {
                            // A duplicate key: a server error for this statement only.
                            do {
                                try await pg.query("INSERT INTO counters (id, n) VALUES ($1, 0)", [.int(id)])
                            } catch let error as PostgresError {
                                #expect(error.isUniqueViolation, "\(error)")
                                failed += 1
                            }
                        } else if step % 10 == 9 {
                            _ = try await pg.transaction { connection in
                                try await connection.query("UPDATE counters SET n = n + 1 WHERE id = $1", [.int(id)])
                            }
                        } else {
                            let row = try await pg.query("UPDATE counters SET n = n + 1 WHERE id = $1 RETURNING id", [.int(id)]).first
                            #expect(row?["id"].int == id)
                        }
                    }
                    return failed
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(failures == 24 * 3)
        // Every update but the failed inserts landed, each exactly once.
        let total = try await pg.query("SELECT sum(n)::int AS total FROM counters").first?["total"].int
        #expect(total == 24 * (40 - 3))
        await pg.close()
    }

    /// A task still preferring the executor after the client closed goes on elsewhere: its next
    /// statement fails with "client closed" instead of hanging.
    @Test func aTaskOnTheExecutorOutlivesTheClient() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 1)
        let outcome = try await withTaskExecutorPreference(pg.executor) { () async throws -> String in
            try await pg.query("SELECT $1::int AS one", [.int(1)])
            await pg.close()
            do {
                try await pg.query("SELECT $1::int AS one", [.int(1)])
                return "ran after close"
            } catch let error as PostgresError {
                return error.code.description
            }
        }
        #expect(outcome == PostgresError.Code.closed.description)
    }
}
