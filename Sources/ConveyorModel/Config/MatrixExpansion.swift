/// One run of the expansion pipeline over a parsed config (see `ConfigExpander`).
struct MatrixExpansion {
    let root: [String: JSONValue]
    let context: BuildRequestContext
    let limits: ConfigLimits
    var secrets: SecureValues
    private var warnings = WarningList()

    init(root: [String: JSONValue], context: BuildRequestContext, limits: ConfigLimits, secrets: SecureValues) {
        self.root = root
        self.context = context
        self.limits = limits
        self.secrets = secrets
    }

    mutating func run() throws(ConfigError) -> ExpandedBuild {
        RootConfig.warnUnknownKeys(of: root, warnings: &warnings)
        let jobsSection = RootConfig.jobsSection(of: root, warnings: &warnings)
        let fastFinish = jobsSection["fast_finish"]?.boolValue ?? false
        let envSection = EnvSection(root["env"], warnings: &warnings)
        let rootKeys = rootJobKeys()
        let rootEnv = envSection.global.compactMap { if case .plain(let v) = $0 { v } else { nil } }

        if let reason = try skipReason(rootKeys: rootKeys, rootEnv: rootEnv) {
            return ExpandedBuild(fastFinish: fastFinish, skipped: reason, warnings: warnings.items)
        }

        let rows = try MatrixRows(root: root, envSection: envSection, limits: limits)
            .rows(includes: jobsSection["include"]?.asList ?? [], warnings: &warnings)
        var builder = JobBuilder(root: root, globalEnv: envSection.global, secrets: secrets)
        var drafts = rows.map { builder.draft(from: $0, warnings: &warnings) }
        secrets = builder.secrets

        let excludes = (jobsSection["exclude"]?.asList ?? []).compactMap { JobMatcher($0, warnings: &warnings) }
        var plan = StagePlan(root: root, drafts: drafts, warnings: &warnings)
        drafts.removeAll { draft in excludes.contains { $0.matches(draft, stage: plan.stage(for: draft)?.name) } }
        drafts = Self.deduplicated(drafts)
        drafts = try filterByConditions(drafts, plan: plan, rootKeys: rootKeys, rootEnv: rootEnv)
        plan = StagePlan(root: root, drafts: drafts, warnings: &warnings)

        let allowFailures = (jobsSection["allow_failures"]?.asList ?? []).compactMap { JobMatcher($0, warnings: &warnings) }
        let usedStages = plan.inUse ? Self.usedStages(plan: plan, drafts: drafts) : []
        var jobs: [JobSpec] = drafts.map { draft in
            var spec = draft.spec
            let stage = plan.stage(for: draft)
            spec.stage = stage?.name
            spec.stageIndex = stage.flatMap { s in usedStages.firstIndex(of: s.name) } ?? 0
            spec.allowFailure = spec.allowFailure || allowFailures.contains { $0.matches(draft, stage: stage?.name) }
            return spec
        }
        // Jobs run stage by stage; within a stage they keep config order.
        jobs = jobs.enumerated().sorted { ($0.element.stageIndex, $0.offset) < ($1.element.stageIndex, $1.offset) }
            .map(\.element)
        if jobs.count > limits.maxJobs {
            throw ConfigError("build matrix expands to \(jobs.count) jobs, more than the maximum of \(limits.maxJobs)")
        }
        for index in jobs.indices { jobs[index].number = index + 1 }
        let notifications = NotificationsConfig.parse(root["notifications"], secrets: &secrets, warnings: &warnings)
        var expanded = ExpandedBuild(jobs: jobs, fastFinish: fastFinish, stages: usedStages, warnings: warnings.items)
        expanded.notifications = notifications
        return expanded
    }

    /// `[ci skip]` (push and pull request only), then branch rules, then the build-level `if:`.
    private mutating func skipReason(rootKeys: [String: JSONValue], rootEnv: [EnvVar]) throws(ConfigError) -> String? {
        if ["push", "pull_request"].contains(context.eventType), let marker = BranchRules.skipMarker(in: context.commitMessage) {
            return "commit message contains \(marker)"
        }
        if let reason = BranchRules.exclusionReason(branches: root["branches"], branch: context.branchForRules,
                                                    warnings: &warnings) {
            return reason
        }
        if let condition = root["if"]?.scalarText {
            let expr = try Condition.parse(condition)
            if !expr.evaluate(context: context, env: rootEnv, jobKeys: rootKeys) {
                return "build condition is false: \(condition)"
            }
        }
        return nil
    }

    /// language/os/dist/arch of the root config, for build- and stage-level conditions.
    private func rootJobKeys() -> [String: JSONValue] {
        var scratch = WarningList()
        var keys: [String: JSONValue] = ["language": .string(RootConfig.language(of: root, warnings: &scratch))]
        for key in ["os", "dist", "arch"] {
            if let value = root[key]?.asList.first?.scalarText { keys[key] = .string(value) }
        }
        if keys["os"] == nil { keys["os"] = .string(ConfigKeys.defaultOS) }
        return keys
    }

    private static func deduplicated(_ drafts: [JobDraft]) -> [JobDraft] {
        var seen: Set<JobDraft.Identity> = []
        return drafts.filter { seen.insert($0.identity).inserted }
    }

    private func filterByConditions(_ drafts: [JobDraft], plan: StagePlan, rootKeys: [String: JSONValue],
                                    rootEnv: [EnvVar]) throws(ConfigError) -> [JobDraft] {
        var stageResults: [String: Bool] = [:]
        for stage in plan.stages {
            guard let condition = stage.condition else { continue }
            let expr = try Condition.parse(condition)
            stageResults[stage.name] = expr.evaluate(context: context, env: rootEnv, jobKeys: rootKeys)
        }
        var kept: [JobDraft] = []
        for draft in drafts {
            if let stage = plan.stage(for: draft), stageResults[stage.name] == false { continue }
            if let condition = draft.condition {
                let expr = try Condition.parse(condition)
                if !expr.evaluate(context: context, env: draft.spec.env, jobKeys: draft.spec.keys) { continue }
            }
            kept.append(draft)
        }
        return kept
    }

    private static func usedStages(plan: StagePlan, drafts: [JobDraft]) -> [String] {
        let used = Set(drafts.compactMap { plan.stage(for: $0)?.name })
        return plan.stages.map(\.name).filter(used.contains)
    }
}
