import ConveyorPostgres
import ConveyorRedis

/// How the cluster notices that Redis lost writes (docs/runbook.md#redis-lost-or-behind).
///
/// `cv:epoch` is a counter the reaper increments on every pass, recording each value it got in
/// PostgreSQL (`redis_epochs.seq`) after Redis acknowledged it. PostgreSQL is read first, Redis
/// second: a Redis that answers less than PostgreSQL's record — or nothing — has lost at least
/// that increment (restarted without its AOF, `FLUSHALL`, or a promoted replica that lagged).
public struct RedisEpoch: Sendable {
    let context: NodeContext

    public init(context: NodeContext) { self.context = context }

    public enum Status: Sendable, Equatable, CustomStringConvertible {
        /// Redis holds at least what PostgreSQL recorded.
        case current(Int64)
        /// No `cv:epoch` at all: an empty Redis (or a cluster's first start).
        case missing(recorded: Int64)
        /// Redis answers an older epoch than it once acknowledged.
        case behind(redis: Int64, recorded: Int64)

        public var needsRepair: Bool { if case .current = self { false } else { true } }
        public var description: String {
            switch self {
            case .current(let n): "current (\(n))"
            case .missing(let recorded): "missing (PostgreSQL recorded \(recorded))"
            case .behind(let redis, let recorded): "behind (Redis \(redis), PostgreSQL recorded \(recorded))"
            }
        }
    }

    public func check() async throws -> Status {
        let recorded = try await recordedSeq()
        let value = try await context.redis.send(["GET", RedisArgument(context.keys.epoch)])
        guard let text = value.string else { return .missing(recorded: recorded) }
        let redis = Int64(text) ?? 0
        return redis < recorded ? .behind(redis: redis, recorded: recorded) : .current(redis)
    }

    /// Increments Redis's epoch and records the new value in PostgreSQL.
    @discardableResult
    public func advance() async throws -> Int64 {
        let next = try await context.redis.send(["INCR", RedisArgument(context.keys.epoch)]).int ?? 0
        try await record(next)
        return next
    }

    /// After a repair: Redis's epoch continues above everything PostgreSQL recorded (so the gate of
    /// the admission script, which needs the key, opens), and the repair is counted.
    public func restore(reason: String) async throws -> Int64 {
        let recorded = try await recordedSeq()
        // Raised to PostgreSQL's record if behind, then incremented, in one step.
        let next = try await context.redis.send([
            "EVAL", "if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end return redis.call('INCR', KEYS[1])",
            "1", RedisArgument(context.keys.epoch), RedisArgument(recorded),
        ]).int ?? recorded + 1
        _ = try await context.postgres.query("""
            INSERT INTO redis_epochs (key_prefix, seq, repairs, repaired_at, last_reason) VALUES ($1, $2, 1, now(), $3)
            ON CONFLICT (key_prefix) DO UPDATE SET seq = GREATEST(redis_epochs.seq, EXCLUDED.seq), repairs = redis_epochs.repairs + 1,
                repaired_at = now(), last_reason = EXCLUDED.last_reason
            """, [.text(context.keys.prefix), .int(next), .text(reason)])
        return next
    }

    func recordedSeq() async throws -> Int64 {
        try await context.postgres.query("SELECT seq FROM redis_epochs WHERE key_prefix = $1", [.text(context.keys.prefix)]).rows.first?["seq"].int64 ?? 0
    }

    private func record(_ seq: Int64) async throws {
        _ = try await context.postgres.query("""
            INSERT INTO redis_epochs (key_prefix, seq) VALUES ($1, $2)
            ON CONFLICT (key_prefix) DO UPDATE SET seq = GREATEST(redis_epochs.seq, EXCLUDED.seq)
            """, [.text(context.keys.prefix), .int(seq)])
    }
}
