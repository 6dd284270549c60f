import ConveyorPostgres
import ConveyorTesting
import Foundation
import Testing

@Suite("Postgres: migrations")
struct MigratorTests {
    static let migrations = [
        // The sleep keeps the first migrator inside the advisory lock while the others arrive.
        Migration(version: 1, name: "widgets", sql: """
            CREATE TABLE widgets (id serial PRIMARY KEY, name text NOT NULL);
            SELECT pg_sleep(0.3);
            """),
        Migration(version: 2, name: "seed", sql: "INSERT INTO widgets (name) VALUES ('first'), ('second')"),
        Migration(version: 3, name: "unique names", sql: "CREATE UNIQUE INDEX widgets_name ON widgets (name)"),
    ]

    /// Several nodes starting at once on the same fresh database: every `migrate` succeeds, each
    /// migration is applied exactly once.
    @Test(.timeLimit(.minutes(1)))
    func concurrentMigrationsApplyOnce() async throws {
        let (first, url) = try await TestEnvironment.freshPostgres(poolSize: 1)
        var clients = [first]
        for _ in 1..<4 { clients.append(PostgresClient(url: url, poolSize: 1)) }
        let results = try await withThrowingTaskGroup(of: [Int].self) { group in
            for (i, client) in clients.enumerated() {
                group.addTask {
                    try await Migrator(client: client).migrate(i % 2 == 0 ? Self.migrations : Self.migrations.reversed())
                }
            }
            var results: [[Int]] = []
            for try await applied in group { results.append(applied) }
            return results
        }
        #expect(results.count == 4)
        #expect(results.flatMap { $0 }.sorted() == [1, 2, 3], "\(results)")
        let recorded = try await first.query("SELECT version, name FROM schema_migrations ORDER BY version").rows
        #expect(recorded.map { $0["version"].int } == [1, 2, 3])
        #expect(recorded.map { $0["name"].string } == ["widgets", "seed", "unique names"])
        #expect(try await first.query("SELECT count(*) AS c FROM widgets").first?["c"].int == 2)

        // Twice more, sequentially: nothing left to do.
        #expect(try await Migrator(client: clients[1]).migrate(Self.migrations) == [])
        #expect(try await Migrator(client: clients[2]).migrate(Self.migrations) == [])
        // Everyone released the advisory lock.
        #expect(try await first.query("""
            SELECT count(*) AS c FROM pg_locks
            WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """).first?["c"].int == 0)
        for client in clients { await client.close() }
    }

    /// A failing migration is rolled back and not recorded; the lock is released and a fixed
    /// migration list applies later.
    @Test func failingMigrationIsRolledBack() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres(poolSize: 1)
        let broken = Self.migrations + [Migration(version: 4, name: "broken", sql: """
            CREATE TABLE gadgets (id int);
            INSERT INTO nowhere VALUES (1);
            """)]
        do {
            try await Migrator(client: pg).migrate(broken)
            Issue.record("the broken migration must fail")
        } catch let error as PostgresError {
            #expect(error.sqlState == "42P01", "\(error)")
        }
        #expect(try await pg.query("SELECT version FROM schema_migrations ORDER BY version").rows.map { $0["version"].int } == [1, 2, 3])
        #expect(try await pg.query("SELECT to_regclass('gadgets') IS NULL AS absent").first?["absent"].bool == true)
        let fixed = Self.migrations + [Migration(version: 4, name: "fixed", sql: "CREATE TABLE gadgets (id int)")]
        #expect(try await Migrator(client: pg).migrate(fixed) == [4])
        await pg.close()
    }
}
