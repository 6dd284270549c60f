/// One attempt's log as it stands, the same bytes wherever it lives.
public struct LogSnapshot: Sendable, Hashable {
    /// Where the bulk of the bytes came from.
    public enum Source: String, Sendable, Hashable {
        /// Only parts: not aggregated yet.
        case parts
        /// Aggregated content in Postgres (plus any parts that arrived since).
        case aggregated
        /// Purged from Postgres, read back from the archive (plus any parts that arrived since).
        case archive
    }

    public var job: Int64
    public var attempt: Int
    public var content: [UInt8]
    /// The highest part number included: resume a live stream after it (SSE `Last-Event-ID`).
    public var lastPart: Int?
    /// Whether the final part has arrived: nothing more will follow.
    public var final: Bool
    public var source: Source

    public init(job: Int64, attempt: Int, content: [UInt8], lastPart: Int?, final: Bool, source: Source) {
        self.job = job
        self.attempt = attempt
        self.content = content
        self.lastPart = lastPart
        self.final = final
        self.source = source
    }

    public var text: String { String(decoding: content, as: UTF8.self) }
}
