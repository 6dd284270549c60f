/// Enforces the maximum log length while keeping the end of the log, which is where the reason for a
/// runaway log usually is.
///
/// Output passes through until `maxBytes − tailBytes` bytes were sent. After that it is held back; if the
/// log ends within `maxBytes` the held bytes follow as usual, otherwise only the last `tailBytes` are
/// kept and `exceeded` turns true (the job is then stopped).
struct LogLimiter: Sendable {
    let maxBytes: Int
    let tailBytes: Int
    private(set) var sent = 0
    private(set) var omitted = 0
    private(set) var exceeded = false
    private var held: [UInt8] = []

    init(maxBytes: Int, tailBytes: Int = 64 * 1024) {
        self.maxBytes = max(2, maxBytes)
        self.tailBytes = min(tailBytes, self.maxBytes / 2)
    }

    private var headBudget: Int { maxBytes - tailBytes }

    /// Returns the part of `bytes` that may be sent now.
    mutating func accept(_ bytes: [UInt8]) -> [UInt8] {
        var rest = bytes[...]
        var out: [UInt8] = []
        if held.isEmpty && sent < headBudget {
            let take = min(rest.count, headBudget - sent)
            out = Array(rest.prefix(take))
            sent += take
            rest = rest.dropFirst(take)
        }
        guard !rest.isEmpty else { return out }
        held += rest
        if sent + omitted + held.count > maxBytes { exceeded = true }
        if exceeded && held.count > tailBytes {
            let drop = held.count - tailBytes
            held.removeFirst(drop)
            omitted += drop
        }
        return out
    }

    /// What is still held back, with a note of what was left out when the limit was exceeded.
    mutating func finish() -> [UInt8] {
        defer { held = [] }
        guard exceeded else { return held }
        return Array("\n\n[… \(omitted) bytes of log omitted …]\n\n".utf8) + held
    }
}
