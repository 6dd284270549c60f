/// Bounds that keep hostile or broken configs from exhausting a node (docs/config.md, "Limits").
public struct ConfigLimits: Sendable, Equatable {
    /// A build matrix larger than this is rejected (counted before any job is drafted, see `MatrixRows`).
    public var maxJobs = 200
    /// A config (or API override) larger than this is rejected before parsing.
    public var maxConfigBytes = 1_048_576
    /// Deepest nesting of mappings and lists accepted.
    public var maxDepth = 64
    /// Largest size of a document once its aliases are expanded, in bytes (each node counts its text
    /// plus one): stops "billion laughs" bombs, which are small as text and huge expanded.
    public var maxExpandedBytes = 4 * 1_048_576

    public init() {}
}
