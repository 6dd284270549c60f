/// Bounds that keep hostile or broken configs from exhausting a node.
public struct ConfigLimits: Sendable, Equatable {
    /// A build matrix larger than this is rejected.
    public var maxJobs = 200
    /// A config (or API override) larger than this is rejected before parsing.
    public var maxConfigBytes = 1_048_576
    /// Deepest nesting of mappings and lists accepted.
    public var maxDepth = 64
    /// Most YAML nodes a document may hold once aliases are expanded: stops "billion laughs" bombs.
    public var maxAliasExpansion = 250_000

    public init() {}
}
