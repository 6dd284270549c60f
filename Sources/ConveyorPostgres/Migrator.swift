import Logging

/// One versioned schema change.
public struct Migration: Sendable {
    public var version: Int
    public var name: String
    public var sql: String
    public init(version: Int, name: String, sql: String) {
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Applies migrations in version order, each in its own transaction, recorded in
/// `schema_migrations`. A session advisory lock makes concurrent starts safe: one node migrates,
/// the others wait and then find nothing left to do.
public struct Migrator: Sendable {
    public static let advisoryLockKey: Int64 = 0x636F6E7665796F72 // "conveyor"
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger = Logger(label: "conveyor.migrate")) {
        self.client = client
        self.logger = logger
    }

    /// Returns the versions applied by this call.
    @discardableResult
    public func migrate(_ migrations: [Migration]) async throws -> [Int] {
        try await client.withConnection { connection in
            _ = try await connection.query("SELECT pg_advisory_lock($1)", [.int(Self.advisoryLockKey)])
            do {
                let applied = try await apply(migrations, on: connection)
                _ = try await connection.query("SELECT pg_advisory_unlock($1)", [.int(Self.advisoryLockKey)])
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock($1)", [.int(Self.advisoryLockKey)])
                throw error
            }
        }
    }

    private func apply(_ migrations: [Migration], on connection: PostgresConnection) async throws -> [Int] {
        _ = try await connection.query("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())
            """)
        let done = Set(try await connection.query("SELECT version FROM schema_migrations").rows.compactMap { $0["version"].int })
        var applied: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where !done.contains(migration.version) {
            _ = try await connection.query("BEGIN")
            do {
                _ = try await connection.query(migration.sql)
                _ = try await connection.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                               [.int(migration.version), .text(migration.name)])
                _ = try await connection.query("COMMIT")
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
            logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
            applied.append(migration.version)
        }
        return applied
    }
}
