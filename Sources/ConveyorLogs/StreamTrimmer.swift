import ConveyorCore
import ConveyorRedis

/// Keeps `cv:logs` from holding every part ever sent: trims by `MINID` below the oldest entry any
/// group still needs (its oldest pending entry, or what it has not read yet), as docs/architecture.md §4 asks.
struct StreamTrimmer: Sendable {
    let context: NodeContext

    func trim(_ stream: String) async throws {
        let groups = try await context.redis.xinfoGroups(stream)
        if groups.isEmpty { return }
        var keep: StreamID?
        for group in groups {
            let pending = try await context.redis.xpendingSummary(stream, group: group.name)
            // Everything up to last-delivered was read; of that, only pending entries still matter.
            let needed = pending.smallestID.flatMap(StreamID.init) ?? StreamID(group.lastDeliveredID)?.next
            guard let needed else { return }
            keep = keep.map { min($0, needed) } ?? needed
        }
        guard let keep else { return }
        try await context.redis.send(["XTRIM", RedisArgument(stream), "MINID", RedisArgument(keep.description)])
    }
}

/// A stream entry id `ms-seq`, ordered as Redis orders them.
struct StreamID: Sendable, Comparable, CustomStringConvertible {
    var ms: UInt64
    var seq: UInt64

    init?(_ text: String) {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let ms = UInt64(parts[0]), let seq = UInt64(parts[1]) else { return nil }
        self.ms = ms
        self.seq = seq
    }

    init(ms: UInt64, seq: UInt64) {
        self.ms = ms
        self.seq = seq
    }

    var next: StreamID { seq == .max ? StreamID(ms: ms + 1, seq: 0) : StreamID(ms: ms, seq: seq + 1) }
    var description: String { "\(ms)-\(seq)" }
    static func < (a: StreamID, b: StreamID) -> Bool { (a.ms, a.seq) < (b.ms, b.seq) }
}
