import ConveyorPostgres
import ConveyorTesting
import ConveyorThreads
import Foundation
import Synchronization
import Testing

/// Lent connections whose statements go through the statement loop (`lentStatementsOnLoop`), as on a
/// node's event loops: what cannot be pipelined, a lost connection, tasks on the loop.
@Suite("Postgres client: lent connections on the loop")
struct PostgresLentOnLoopTests {
    /// Several commands in one string without parameters (as migrations send) run on the
    /// connection's own thread, between pipelined statements of the same holder; an advisory lock
    /// taken on the connection holds across both.
    @Test func multiCommandStatementsRunBetweenPipelinedOnes() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 2, lentStatementsOnLoop: true)
        let names = try await pg.withConnection { connection in
            _ = try await connection.query("SELECT pg_advisory_lock($1)", [.int(42)])
            _ = try await connection.query("CREATE TABLE a (x int); CREATE TABLE b (y int)")
            _ = try await connection.query("INSERT INTO a VALUES ($1)", [.int(1)])
            _ = try await connection.query("INSERT INTO b SELECT x + 1 FROM a; INSERT INTO b VALUES (3)")
            let held = try await pg.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = $1", [.int(42)])
            _ = try await connection.query("SELECT pg_advisory_unlock($1)", [.int(42)])
            return (held.first?["n"].int, try await connection.query("SELECT y FROM b ORDER BY y").rows.compactMap { $0["y"].int })
        }
        #expect(names.0 == 1)
        #expect(names.1 == [2, 3])
        // The connection went back to the pool usable, out of pipeline mode.
        for _ in 0..<4 { #expect(try await pg.query("SELECT $1::int AS v", [.int(7)]).first?["v"].int == 7) }
        await pg.close()
    }

    /// The holder's backend is terminated mid-body: that statement fails as a lost connection, the
    /// connection is not reused broken, and the next holder (and single statements) work.
    @Test func aLostLentConnectionFailsItsStatementAndReconnects() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 1, lentStatementsOnLoop: true)
        await #expect {
            try await pg.withConnection { connection in
                _ = try await connection.query("SELECT $1::int", [.int(1)])
                _ = try await connection.query("SELECT pg_terminate_backend(pg_backend_pid()) AS gone WHERE $1::int = 1", [.int(1)])
            }
        } throws: { error in
            (error as? PostgresError)?.isConnectionFailure == true
        }
        let again = try await pg.withConnection { connection in
            try await connection.query("SELECT $1::int AS v", [.int(5)]).first?["v"].int
        }
        #expect(again == 5)
        #expect(try await pg.query("SELECT $1::int AS v", [.int(6)]).first?["v"].int == 6)
        // A transaction that meets a lost connection is retried whole, on a fresh backend.
        let tries = Counter()
        let committed = try await pg.transaction { connection in
            if tries.next() == 1 {
                _ = try await connection.query("SELECT pg_terminate_backend(pg_backend_pid()) WHERE $1::int = 1", [.int(1)])
            }
            return try await connection.query("SELECT $1::int AS v", [.int(9)]).first?["v"].int
        }
        #expect(committed == 9 && tries.value == 2)
        await pg.close()
    }

    /// Concurrent transactions, rollbacks and single statements from tasks preferring the client's
    /// event loop, lent connections sending through it: each outcome its own, every committed
    /// update counted exactly once.
    @Test func transactionsFromTasksOnTheEventLoop() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 3, lentStatementsOnLoop: true)
        try await pg.query("CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL)")
        try await pg.query("INSERT INTO counters SELECT i, 0 FROM generate_series(0, 9) AS i")
        let rolledBack = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<12 {
                group.addTask(executorPreference: pg.executor) {
                    var rolledBack = 0
                    for step in 0..<30 {
                        let id = (task + step) % 10
                        if step % 7 == 6 {
                            do {
                                try await pg.transaction { connection in
                                    _ = try await connection.query("UPDATE counters SET n = n + 1 WHERE id = $1", [.int(id)])
                                    _ = try await connection.query("INSERT INTO counters VALUES ($1, 0)", [.int(id)])
                                }
                            } catch let error as PostgresError where error.isUniqueViolation {
                                rolledBack += 1
                            }
                        } else if step % 2 == 0 {
                            try await pg.transaction { connection in
                                _ = try await connection.query("UPDATE counters SET n = n + 1 WHERE id = $1", [.int(id)])
                            }
                        } else {
                            try await pg.query("UPDATE counters SET n = n + 1 WHERE id = $1", [.int(id)])
                        }
                    }
                    return rolledBack
                }
            }
            return try await group.reduce(0, +)
        }
        #expect(rolledBack == 12 * 4)
        let total = try await pg.query("SELECT sum(n)::int AS total FROM counters").first?["total"].int
        #expect(total == 12 * (30 - 4))
        await pg.close()
    }
}

/// Counts calls from any task.
private final class Counter: Sendable {
    private let count = Mutex(0)

    func next() -> Int { count.withLock { $0 += 1; return $0 } }
    var value: Int { count.withLock { $0 } }
}
