/// The project's one backoff policy: exponential from `initial`, doubling up to `maximum`, back to
/// `initial` after a success. Used by the role runner (`RoleRunner`), the stream consumer and the
/// Redis client's reconnects. A value: each loop keeps its own.
public struct Backoff: Sendable, Equatable {
    public let initial: Duration
    public let maximum: Duration
    /// The delay before the next attempt; `initial` until a failure.
    public private(set) var current: Duration

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        current = initial
    }

    /// A failure: returns the delay to wait now, and doubles the next one (up to `maximum`).
    public mutating func next() -> Duration {
        defer { current = min(current * 2, maximum) }
        return current
    }

    /// A success: the next failure waits `initial` again.
    public mutating func reset() {
        current = initial
    }
}
