/// The result of expanding a config for one request: its jobs, or why the build is skipped.
public struct ExpandedBuild: Sendable, Codable, Hashable {
    public var jobs: [JobSpec]
    public var fastFinish: Bool
    /// Why no build runs, e.g. "commit message contains [ci skip]"; nil when it runs.
    public var skipped: String?
    /// Stage names in order (empty when the config has no stages).
    public var stages: [String]
    /// Unknown keys, secure vars left out, ignored values, …
    public var warnings: [String]

    public init(jobs: [JobSpec] = [], fastFinish: Bool = false, skipped: String? = nil, stages: [String] = [],
                warnings: [String] = []) {
        self.jobs = jobs
        self.fastFinish = fastFinish
        self.skipped = skipped
        self.stages = stages
        self.warnings = warnings
    }

    /// `{"jobs": [...], "fast_finish": Bool, "skipped": null | "reason", "stages": [...], "warnings": [...]}`
    public func expandOutputJSON() -> JSONValue {
        .object([
            "jobs": .array(jobs.map { $0.expandedJSON() }),
            "fast_finish": .bool(fastFinish),
            "skipped": skipped.map(JSONValue.string) ?? .null,
            "stages": .array(stages.map(JSONValue.string)),
            "warnings": .array(warnings.map(JSONValue.string)),
        ])
    }
}
