import ConveyorCore

/// One attempt's log.
struct LogKey: Sendable, Hashable, Comparable {
    var job: Int64
    var attempt: Int

    init(job: Int64, attempt: Int) {
        self.job = job
        self.attempt = attempt
    }

    init(_ part: LogPart) { self.init(job: part.job, attempt: part.attempt) }

    static func < (a: LogKey, b: LogKey) -> Bool { (a.job, a.attempt) < (b.job, b.attempt) }
}

/// One part of one attempt's log: the unique key of `log_parts`.
struct PartKey: Sendable, Hashable {
    var job: Int64
    var attempt: Int
    var number: Int

    init(job: Int64, attempt: Int, number: Int) {
        self.job = job
        self.attempt = attempt
        self.number = number
    }

    init(_ part: LogPart) { self.init(job: part.job, attempt: part.attempt, number: part.number) }
}

extension Array {
    /// Consecutive slices of at most `size` elements.
    func chunked(by size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
