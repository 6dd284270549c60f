import ConveyorCore

/// Tuning of the logs role. Defaults follow docs/architecture.md §7; the rest comes from `Settings`.
public struct LogsConfiguration: Sendable {
    /// Entries read from `cv:logs` per batch: with the handler finishing a batch before the next
    /// read, this bounds the parts a node holds in memory (backpressure).
    public var batchSize = 100
    /// Aggregate this long after the final part (`Settings.aggregationDelaySeconds`).
    public var aggregationDelaySeconds: Double
    /// Aggregate a log without a final part once no part arrived for this long.
    public var sweepAfterSeconds: Double = 600
    /// How often the aggregation and archive loops look for due logs.
    public var tickSeconds: Double
    /// Bytes stored per attempt at most: `Settings.maxLogBytes` plus this margin (the worker enforces
    /// the limit; the margin absorbs parts in flight and the worker's closing message).
    public var maxLogBytes: Int
    public var limitMargin = 256 * 1024
    /// Logs without a final part are archived once their last part is this old.
    public var archiveUnfinishedAfterSeconds: Double = 3600
    /// Logs handled per loop round.
    public var roundSize = 50

    public init(settings: Settings) {
        aggregationDelaySeconds = settings.aggregationDelaySeconds
        tickSeconds = max(0.1, min(settings.sweepIntervalSeconds, settings.aggregationDelaySeconds / 2))
        maxLogBytes = settings.maxLogBytes
    }
}
