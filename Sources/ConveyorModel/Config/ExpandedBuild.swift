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
    /// Why a build that isn't skipped has no jobs: "all 4 job(s) excluded by jobs.exclude",
    /// "stage deploy skipped: branch = master is false". nil when it has jobs.
    public var noJobsReason: String?
    /// `notifications:`, read for the hub (docs/notifications.md).
    public var notifications: NotificationsConfig?

    public init(jobs: [JobSpec] = [], fastFinish: Bool = false, skipped: String? = nil, stages: [String] = [],
                warnings: [String] = [], noJobsReason: String? = nil) {
        self.noJobsReason = noJobsReason
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
            "no_jobs_reason": noJobsReason.map(JSONValue.string) ?? .null,
        ])
    }

    /// What a build row stores: the expand output plus `notifications` (`secure:` targets sealed when
    /// the expansion keeps secure values sealed, as the gatekeeper does),
    /// which the hub reads when the build starts and finishes.
    public func storedJSON() -> JSONValue {
        guard case .object(var object) = expandOutputJSON(), let notifications, let value = JSONValue(encoding: notifications) else {
            return expandOutputJSON()
        }
        object["notifications"] = value
        return .object(object)
    }
}
