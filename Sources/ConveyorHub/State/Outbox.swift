import ConveyorCore
import ConveyorPostgres
import Foundation

/// `hub_outbox`: effects stored with the transition that caused them, deleted once carried out.
enum Outbox {
    /// Stores `effects` in the caller's transaction; nil when there is nothing to do.
    static func insert(_ effects: HubEffects, on connection: PostgresConnection) async throws -> Int64? {
        if effects.isEmpty { return nil }
        let row = try await connection.query("INSERT INTO hub_outbox (effects) VALUES ($1::jsonb) RETURNING id", [try .json(effects)]).first
        return row?["id"].int64
    }

    /// Carries out a committed row's effects and deletes it. On failure the row stays for the sweep.
    static func complete(id: Int64?, effects: HubEffects, context: NodeContext) async {
        guard let id else { return }
        do {
            try await EffectRunner(context: context).run(effects)
            try await context.postgres.query("DELETE FROM hub_outbox WHERE id = $1", id)
        } catch {
            context.logger.warning("hub effects failed; the outbox sweep retries them", metadata: ["outbox": "\(id)", "error": "\(error)"])
        }
    }

    /// Carries out rows older than `age` (left by a hub that died, or whose Redis call failed).
    /// `SKIP LOCKED` lets several hubs sweep at once without doing a row twice.
    @discardableResult
    static func sweep(context: NodeContext, olderThanSeconds age: Double, limit: Int = 100) async throws -> Int {
        try await context.postgres.transaction { connection in
            let rows = try await connection.query("""
                SELECT id, effects::text AS effects FROM hub_outbox
                WHERE created_at < now() - make_interval(secs => $1::double precision)
                ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
                """, [.double(age), .int(limit)]).rows
            let runner = EffectRunner(context: context)
            for row in rows {
                let id: Int64 = try row.decode("id")
                let text: String = try row.decode("effects")
                if let effects = try? JSONDecoder().decode(HubEffects.self, from: Data(text.utf8)) {
                    try await runner.run(effects)
                } else {
                    context.logger.error("unreadable hub_outbox row dropped", metadata: ["outbox": "\(id)"])
                }
                _ = try await connection.query("DELETE FROM hub_outbox WHERE id = $1", [.int(id)])
            }
            return rows.count
        }
    }
}
