/// One run of the expansion pipeline over a parsed config (see `ConfigExpander`).
struct MatrixExpansion {
    let root: [String: JSONValue]
    let context: BuildRequestContext
    let limits: ConfigLimits
    var secrets: SecureValues
    let keyOrder: KeyOrder
    private var warnings = WarningList()
    /// Why jobs were dropped, for a build left with none ("all 4 jobs excluded by jobs.exclude").
    private var dropped: [String] = []

    init(root: [String: JSONValue], context: BuildRequestContext, limits: ConfigLimits, secrets: SecureValues,
         keyOrder: KeyOrder = KeyOrder()) {
        self.root = root
        self.context = context
        self.limits = limits
        self.secrets = secrets
        self.keyOrder = keyOrder
    }

    mutating func run() throws(ConfigError) -> ExpandedBuild {
        RootConfig.warnUnknownKeys(of: root, warnings: &warnings)
        let jobsSection = RootConfig.jobsSection(of: root, warnings: &warnings)
        let fastFinish = jobsSection["fast_finish"]?.boolValue ?? false
        let envSection = EnvSection(root["env"], keyOrder: keyOrder, warnings: &warnings)
        let rootKeys = rootJobKeys()
        let rootEnv = envSection.global.compactMap { if case .plain(let v) = $0 { v } else { nil } }

        if let reason = try skipReason(rootKeys: rootKeys, rootEnv: rootEnv) {
            return ExpandedBuild(fastFinish: fastFinish, skipped: reason, warnings: warnings.items)
        }

        let rows = try MatrixRows(root: root, envSection: envSection, limits: limits, keyOrder: keyOrder)
            .rows(includes: jobsSection["include"]?.asList ?? [], warnings: &warnings)
        var builder = JobBuilder(root: root, globalEnv: envSection.global, secrets: secrets)
        var drafts = rows.map { builder.draft(from: $0, warnings: &warnings) }
        secrets = builder.secrets

        let excludes = try matchers(jobsSection["exclude"])
        var plan = StagePlan(root: root, drafts: drafts, warnings: &warnings)
        drafts = Self.deduplicated(drafts)
        let built = drafts.count
        var kept: [JobDraft] = []
        for draft in drafts where try !anyMatches(excludes, draft, stage: plan.stage(for: draft)?.name) { kept.append(draft) }
        drafts = kept
        if drafts.count < built {
            dropped.append(drafts.isEmpty ? "all \(Self.jobs(built)) excluded by jobs.exclude"
                                          : "\(built - drafts.count) of \(Self.jobs(built)) excluded by jobs.exclude")
        }
        drafts = try filterByConditions(drafts, plan: plan, rootKeys: rootKeys, rootEnv: rootEnv)
        plan = StagePlan(root: root, drafts: drafts, warnings: &warnings)

        let allowFailures = try matchers(jobsSection["allow_failures"])
        let usedStages = plan.inUse ? Self.usedStages(plan: plan, drafts: drafts) : []
        var jobs: [JobSpec] = []
        for draft in drafts {
            var spec = draft.spec
            let stage = plan.stage(for: draft)
            spec.stage = stage?.name
            spec.stageIndex = stage.flatMap { s in usedStages.firstIndex(of: s.name) } ?? 0
            if !spec.allowFailure, try anyMatches(allowFailures, draft, stage: stage?.name) { spec.allowFailure = true }
            jobs.append(spec)
        }
        // Jobs run stage by stage; within a stage they keep config order.
        jobs = jobs.enumerated().sorted { ($0.element.stageIndex, $0.offset) < ($1.element.stageIndex, $1.offset) }
            .map(\.element)
        if jobs.count > limits.maxJobs {
            throw ConfigError("build matrix expands to \(jobs.count) jobs, more than the maximum of \(limits.maxJobs)")
        }
        for index in jobs.indices { jobs[index].number = index + 1 }
        return ExpandedBuild(jobs: jobs, fastFinish: fastFinish, stages: usedStages, warnings: warnings.items,
                             noJobsReason: jobs.isEmpty ? (dropped.isEmpty ? "the config has no jobs" : dropped.joined(separator: "; ")) : nil)
    }

    /// Whether an `exclude`/`allow_failures` entry matches (its `if:` may throw at a regex limit).
    private func anyMatches(_ matchers: [JobMatcher], _ draft: JobDraft, stage: String?) throws(ConfigError) -> Bool {
        for matcher in matchers {
            if try matcher.matches(draft, stage: stage, context: context) { return true }
        }
        return false
    }

    /// "1 job", "4 jobs"
    private static func jobs(_ count: Int) -> String { count == 1 ? "1 job" : "\(count) jobs" }

    private mutating func matchers(_ entries: JSONValue?) throws(ConfigError) -> [JobMatcher] {
        var matchers: [JobMatcher] = []
        for entry in entries?.asList ?? [] {
            if let matcher = try JobMatcher(entry, keyOrder: keyOrder, warnings: &warnings) { matchers.append(matcher) }
        }
        return matchers
    }

    /// `[ci skip]` (push and pull request only), then branch rules, then the build-level `if:`.
    private mutating func skipReason(rootKeys: [String: JSONValue], rootEnv: [EnvVar]) throws(ConfigError) -> String? {
        if ["push", "pull_request"].contains(context.eventType), let marker = BranchRules.skipMarker(in: context.commitMessage) {
            return "commit message contains \(marker)"
        }
        if let reason = try BranchRules.exclusionReason(branches: root["branches"], branch: context.branchForRules,
                                                    warnings: &warnings) {
            return reason
        }
        if let condition = root["if"]?.scalarText {
            let expr = try Condition.parse(condition)
            if try !expr.evaluate(context: context, env: rootEnv, jobKeys: rootKeys) {
                return "build condition is false: \(condition)"
            }
        }
        return nil
    }

    /// language/os/dist/arch of the root config, for build- and stage-level conditions.
    private func rootJobKeys() -> [String: JSONValue] {
        var scratch = WarningList()
        var keys: [String: JSONValue] = ["language": .string(RootConfig.language(of: root, warnings: &scratch))]
        let language = keys["language"]?.scalarText ?? ConfigKeys.defaultLanguage
        let os = root["os"]?.asList.first?.scalarText ?? ConfigKeys.defaultOS(language: language)
        keys["os"] = .string(os)
        for key in ["dist", "arch"] where ConfigKeys.applies(key, toOS: os) {
            if let value = root[key]?.asList.first?.scalarText { keys[key] = .string(value) }
        }
        if os == "linux" && keys["dist"] == nil { keys["dist"] = .string(ConfigKeys.defaultLinuxDist) }
        return keys
    }

    private static func deduplicated(_ drafts: [JobDraft]) -> [JobDraft] {
        var seen: Set<JobDraft.Identity> = []
        return drafts.filter { seen.insert($0.identity).inserted }
    }

    private mutating func filterByConditions(_ drafts: [JobDraft], plan: StagePlan, rootKeys: [String: JSONValue],
                                             rootEnv: [EnvVar]) throws(ConfigError) -> [JobDraft] {
        var stageResults: [String: Bool] = [:]
        for stage in plan.stages {
            guard let condition = stage.condition else { continue }
            let expr = try Condition.parse(condition)
            stageResults[stage.name] = try expr.evaluate(context: context, env: rootEnv, jobKeys: rootKeys)
        }
        var kept: [JobDraft] = []
        var skippedStages: [String] = []
        var falseConditions: [String] = []
        for draft in drafts {
            if let stage = plan.stage(for: draft), stageResults[stage.name] == false {
                if !skippedStages.contains(stage.name) {
                    skippedStages.append(stage.name)
                    dropped.append("stage \(stage.name) skipped: \(stage.condition ?? "") is false")
                }
                continue
            }
            if let condition = draft.condition {
                let expr = try Condition.parse(condition)
                if try !expr.evaluate(context: context, env: draft.spec.env, jobKeys: draft.spec.keys) {
                    falseConditions.append(condition)
                    continue
                }
            }
            kept.append(draft)
        }
        if !falseConditions.isEmpty {
            let distinct = falseConditions.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            dropped.append("\(Self.jobs(falseConditions.count)) skipped: " + distinct.map { "\($0) is false" }.joined(separator: ", "))
        }
        return kept
    }

    private static func usedStages(plan: StagePlan, drafts: [JobDraft]) -> [String] {
        let used = Set(drafts.compactMap { plan.stage(for: $0)?.name })
        return plan.stages.map(\.name).filter(used.contains)
    }
}
