import ConveyorPostgres

/// The `caches` table (migration 0012): which archives exist, for the API and for deletes.
public struct CacheRecords: Sendable {
    public struct Entry: Sendable, Equatable {
        public var branch: String
        public var slug: String
        public var size: Int64
        public var store: String
        public var storageKey: String
        /// ISO 8601, UTC.
        public var updatedAt: String
    }

    let postgres: PostgresClient

    public init(postgres: PostgresClient) {
        self.postgres = postgres
    }

    public func record(repository: Int64, branch: String, slug: String, size: Int64, store: String, storageKey: String) async throws {
        try await postgres.query("""
            INSERT INTO caches (repository_id, branch, slug, size, store, storage_key) VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (repository_id, branch, slug) DO UPDATE
            SET size = EXCLUDED.size, store = EXCLUDED.store, storage_key = EXCLUDED.storage_key, updated_at = now()
            """, [.int(repository), .text(branch), .text(slug), .int(size), .text(store), .text(storageKey)])
    }

    /// A repository's caches, one branch's when `branch` is given; by branch, then slug.
    public func list(repository: Int64, branch: String? = nil) async throws -> [Entry] {
        try await postgres.query("""
            SELECT branch, slug, size, store, storage_key, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS updated_at
            FROM caches WHERE repository_id = $1 AND ($2::text IS NULL OR branch = $2) ORDER BY branch, slug
            """, [.int(repository), .optional(branch)]).rows.map(Self.entry)
    }

    /// Removes the rows and returns them, so their archives can be deleted.
    public func remove(repository: Int64, branch: String? = nil) async throws -> [Entry] {
        try await postgres.query("""
            DELETE FROM caches WHERE repository_id = $1 AND ($2::text IS NULL OR branch = $2)
            RETURNING branch, slug, size, store, storage_key, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS updated_at
            """, [.int(repository), .optional(branch)]).rows.map(Self.entry)
    }

    static func entry(_ row: PostgresRow) -> Entry {
        Entry(branch: row["branch"].string ?? "", slug: row["slug"].string ?? "", size: row["size"].int64 ?? 0,
              store: row["store"].string ?? "", storageKey: row["storage_key"].string ?? "", updatedAt: row["updated_at"].string ?? "")
    }
}
