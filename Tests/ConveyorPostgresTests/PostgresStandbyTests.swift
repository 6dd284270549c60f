import ConveyorPostgres
import ConveyorTesting
import Foundation
import Testing

/// A primary with a streaming-replication standby (`pg_basebackup -R`), and nodes given both hosts
/// with `target_session_attrs=read-write` (libpq's own): when the primary stops and the standby is
/// promoted, the same client reconnects to the new primary; before the promotion it refuses the
/// read-only standby instead of writing to it (docs/runbook.md#postgresql-standby).
@Suite("Postgres client: standby promotion")
struct PostgresStandbyTests {
    @Test(.timeLimit(.minutes(3)))
    func reconnectsToThePromotedStandby() async throws {
        let primary = try await PrivatePostgres()
        try await primary.start()
        let standby = try await PrivatePostgres(standbyOf: primary)
        try await standby.start()
        let both = "postgres://conveyor@127.0.0.1:\(primary.port),127.0.0.1:\(standby.port)/postgres?target_session_attrs=read-write"
        let client = PostgresClient(configuration: .init(url: both, poolSize: 2, connectTimeoutSeconds: 2))
        let reader = PostgresClient(configuration: .init(url: standby.url, poolSize: 1, connectTimeoutSeconds: 2))

        try await client.query("CREATE TABLE t (n int)")
        try await client.query("INSERT INTO t VALUES (1)")
        #expect(try await client.query("SELECT inet_server_port() AS port").first?["port"].int == primary.port)
        let replicated = try await eventually(timeout: .seconds(30)) {
            (try? await reader.query("SELECT count(*) AS n FROM t").first?["n"].int) == 1
        }
        #expect(replicated, "the standby never replayed the primary's row")
        #expect(try await reader.query("SELECT pg_is_in_recovery() AS r").first?["r"].string == "t")

        try await primary.stop()
        // Primary gone, standby still read-only: no server qualifies, so the client fails rather than
        // connecting to the standby.
        var refused = false
        for _ in 0..<3 {
            do { try await client.query("INSERT INTO t VALUES (99)") } catch { refused = true }
        }
        #expect(refused, "the client wrote while only a read-only standby was up")

        try await standby.promote()
        let writes = try await eventually(timeout: .seconds(60), every: .milliseconds(250)) {
            (try? await client.query("INSERT INTO t VALUES (2)")) != nil
        }
        #expect(writes, "the client never reached the promoted standby")
        #expect(try await client.query("SELECT inet_server_port() AS port").first?["port"].int == standby.port)
        #expect(try await client.query("SELECT array_agg(n ORDER BY n)::text AS ns FROM t").first?["ns"].string == "{1,2}")
        await reader.close()
        await client.close()
        await standby.destroy()
        await primary.destroy()
    }
}
