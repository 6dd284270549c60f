/// A job's `deploy:` (one mapping or a list), `before_deploy` and `after_deploy` (see docs/deploy.md).
/// Only `provider: script` runs; any other provider fails the deploy step with a message saying so.
public struct DeploySpec: Sendable, Codable, Hashable {
    public struct Entry: Sendable, Codable, Hashable {
        public var provider: String
        /// `script:` of `provider: script`.
        public var script: [String]
        /// `on: branch:`; empty means the default branches (`main`, `master`).
        public var branches: [String]
        public var allBranches: Bool
        /// `on: tags:` true (tag builds only, any branch), false (never tags), nil (unspecified).
        public var tags: Bool?
        /// `on: condition:` shell conditions, each run as `[[ … ]]`.
        public var conditions: [String]
        /// `on: repo:` owner/name.
        public var repo: String?
        /// dpl v2's `cleanup: true` (or v1's `skip_cleanup: false`): `git stash --all` before deploying.
        public var cleanup: Bool
        /// `edge`, `allow_failure`: a failure here does not fail the job.
        public var allowFailure: Bool
    }

    public var entries: [Entry]
    public var beforeDeploy: [String]
    public var afterDeploy: [String]

    public static let defaultBranches = ["main", "master"]

    /// nil when the job deploys nothing.
    static func parse(_ effective: [String: JSONValue], warnings: inout WarningList) -> DeploySpec? {
        guard let value = effective["deploy"], !value.isNull, value.boolValue != false else { return nil }
        var entries: [Entry] = []
        for item in value.asList {
            guard case .object(let map) = item else {
                warnings.add("deploy entries must be mappings with a provider; ignored one")
                continue
            }
            entries.append(entry(map, warnings: &warnings))
        }
        guard !entries.isEmpty else { return nil }
        return DeploySpec(entries: entries, beforeDeploy: commands(effective["before_deploy"]), afterDeploy: commands(effective["after_deploy"]))
    }

    static func entry(_ map: [String: JSONValue], warnings: inout WarningList) -> Entry {
        let provider = map["provider"]?.scalarText?.lowercased() ?? ""
        if provider.isEmpty { warnings.add("a deploy entry has no provider") }
        let on: [String: JSONValue]
        switch map["on"] {
        case .object(let object)?: on = object
        case let value? where value.scalarText != nil: on = ["branch": value]  // `on: production`
        default: on = [:]
        }
        let branches = (on["branch"] ?? on["branches"]).map { $0.asList.compactMap(\.scalarText) } ?? []
        let cleanup: Bool
        if let explicit = map["cleanup"]?.boolValue {
            cleanup = explicit
        } else if let skip = map["skip_cleanup"]?.boolValue {
            cleanup = !skip
        } else {
            cleanup = false
        }
        return Entry(provider: provider, script: commands(map["script"]), branches: branches, allBranches: on["all_branches"]?.boolValue ?? false,
                     tags: on["tags"]?.boolValue, conditions: on["condition"].map { $0.asList.compactMap(\.scalarText) } ?? [],
                     repo: on["repo"]?.scalarText, cleanup: cleanup, allowFailure: map["allow_failure"]?.boolValue ?? false)
    }

    static func commands(_ value: JSONValue?) -> [String] {
        (value?.asList ?? []).compactMap { $0.boolValue == true ? nil : $0.scalarText }.filter { !$0.isEmpty }
    }
}
