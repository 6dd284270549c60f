import ConveyorCore

/// Puts live `log:part` events in order for one viewer, without gaps or duplicates.
///
/// Parts reach `cv:events` in commit order, which is not always number order (a worker's parts
/// can be handled by two logs nodes at once, and a redelivered part arrives late). The viewer first
/// sends what `LogStore.parts(after:)` returns, then feeds every live part here: a part at or below
/// the last one sent is dropped; the next number goes out at once; a part beyond a gap is held
/// until the gap fills. When a gap stays open past `gapTimeout`, call `LogStore.parts(after:)` with
/// `last` and feed the result (`catchUp`): stored parts are authoritative, and whatever is still
/// missing then is skipped over (a part over the log limit, a number the worker never sent).
public struct LivePartSequencer: Sendable {
    /// The highest part number sent; nil before anything was sent.
    public private(set) var last: Int?
    private var held: [Int: LogPart] = [:]
    private var gapSince: ContinuousClock.Instant?
    public var gapTimeout: Duration
    /// Numbers start here when nothing was sent yet.
    public var firstNumber: Int

    public init(last: Int?, firstNumber: Int = 1, gapTimeout: Duration = .seconds(2)) {
        self.last = last
        self.firstNumber = firstNumber
        self.gapTimeout = gapTimeout
    }

    /// Accepts a live part; returns the parts to send now, in order.
    public mutating func accept(_ part: LogPart, now: ContinuousClock.Instant = .now) -> [LogPart] {
        if let last, part.number <= last { return [] }
        held[part.number] = part
        let ready = drain()
        gapSince = held.isEmpty ? nil : (ready.isEmpty ? (gapSince ?? now) : now)
        return ready
    }

    /// Whether a gap has been open too long: time to catch up from the store.
    public func needsCatchUp(now: ContinuousClock.Instant = .now) -> Bool {
        guard let gapSince else { return false }
        return now - gapSince >= gapTimeout
    }

    /// Feeds stored parts (from `LogStore.parts(after: last)`) and then sends everything held, in
    /// order, skipping any number still missing.
    public mutating func catchUp(_ stored: [LogPart]) -> [LogPart] {
        var out: [LogPart] = []
        for part in stored.sorted(by: { $0.number < $1.number }) where last.map({ part.number > $0 }) ?? true {
            held.removeValue(forKey: part.number)
            // Held parts below a stored one come first: a synthetic aggregated part covers them.
            let earlier = held.keys.filter { $0 < part.number }.sorted()
            for number in earlier { held.removeValue(forKey: number) }
            out.append(part)
            last = part.number
        }
        for number in held.keys.sorted() where last.map({ number > $0 }) ?? true {
            if let part = held[number] { out.append(part) }
            last = number
        }
        held.removeAll()
        gapSince = nil
        return out
    }

    private mutating func drain() -> [LogPart] {
        var out: [LogPart] = []
        while true {
            let expected: Int? = last.map { $0 + 1 }
            let next: LogPart?
            if let expected {
                next = held.removeValue(forKey: expected)
            } else if let lowest = held.keys.min(), lowest <= firstNumber {
                next = held.removeValue(forKey: lowest)
            } else {
                next = nil
            }
            guard let next else { return out }
            out.append(next)
            last = next.number
        }
    }
}
