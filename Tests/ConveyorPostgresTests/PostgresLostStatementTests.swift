import ConveyorPostgres
import ConveyorTesting
import Testing

/// A statement whose connection is lost under it fails, saying so, and is never run again by the
/// client (it may have had effects: here a sequence, which no rollback undoes).
@Suite("Postgres client: statements on a lost connection")
struct PostgresLostStatementTests {
    @Test(arguments: [true, false])
    func aStatementOnALostConnectionIsNotRunAgain(pipelined: Bool) async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 1)
        try await pg.query("CREATE SEQUENCE calls")
        try await pg.query("SELECT 1")  // connected: the next statement goes through the loop
        // With a parameter the statement is pipelined through the loop; without, it runs on the
        // connection's own thread (the simple protocol).
        let sql = "SELECT nextval('calls') AS n, pg_terminate_backend(pg_backend_pid())"
        await #expect {
            if pipelined { try await pg.query(sql + " WHERE $1::int = 1", [.int(1)]) } else { try await pg.query(sql) }
        } throws: { error in
            (error as? PostgresError)?.isConnectionFailure == true
        }
        #expect(try await pg.query("SELECT last_value FROM calls").first?["last_value"].int == 1, "run once, not again")
        await pg.close()
    }

    /// `read` runs a read once more when its connection is lost under it (here the first run kills
    /// its own backend; the second answers).
    @Test func aReadOnALostConnectionIsRunAgain() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 1)
        try await pg.query("CREATE SEQUENCE calls")
        try await pg.query("SELECT 1")
        let row = try await pg.read("""
            SELECT CASE WHEN nextval('calls') = 1 THEN pg_terminate_backend(pg_backend_pid()) ELSE true END AS ok WHERE $1::int = 1
            """, [.int(1)]).first
        #expect(row?["ok"].bool == true)
        #expect(try await pg.query("SELECT last_value FROM calls").first?["last_value"].int == 2, "run twice")
        await pg.close()
    }

    /// An idempotent caller retries a statement whose outcome is unknown; others get the error.
    @Test func retryingUnknownOutcomeRunsAnIdempotentBodyAgain() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 1)
        var attempts = 0
        let value = try await pg.retryingUnknownOutcome { () async throws -> Int in
            attempts += 1
            if attempts == 1 {
                throw PostgresError(code: .outcomeUnknown, message: "lost after sending")
            }
            return try await pg.query("SELECT $1::int AS v", [.int(7)]).first?["v"].int ?? 0
        }
        #expect(value == 7 && attempts == 2)
        await #expect {
            try await pg.retryingUnknownOutcome(attempts: 1) { () async throws -> Int in
                throw PostgresError(code: .outcomeUnknown, message: "lost after sending")
            }
        } throws: { error in
            (error as? PostgresError)?.isOutcomeUnknown == true
        }
        await pg.close()
    }
}
