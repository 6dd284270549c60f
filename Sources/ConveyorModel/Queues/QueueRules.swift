/// Chooses the worker queue of a job from `config/queues.yml`: the first rule whose every criterion
/// matches wins; no match → "default".
///
///     queues:
///       - name: builds.mac
///         os: osx
///       - name: builds.docker
///         services: docker
///         language: [ruby, python]
public struct QueueRules: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public var name: String
        /// Criterion key (language, os, dist, arch, services) → accepted values. Compared case-insensitively.
        public var criteria: [String: [String]]

        public init(name: String, criteria: [String: [String]] = [:]) {
            self.name = name
            self.criteria = criteria
        }
    }

    public static let fallbackQueue = "default"
    public static let criterionKeys = ["language", "os", "dist", "arch", "services"]
    /// No rules: every job goes to "default".
    public static let `default` = QueueRules(rules: [])

    public var rules: [Rule]

    public init(rules: [Rule]) {
        self.rules = rules
    }

    public static func parse(yaml: String) throws(ConfigError) -> QueueRules {
        var limits = ConfigLimits()
        limits.maxDepth = 8
        let document = try YAMLLoader.load(text: yaml, limits: limits, what: "queue rules")
        guard case .object(let top) = document, let list = top["queues"] else {
            if document.isNull { return .default }
            throw ConfigError("queue rules need a top-level `queues:` list")
        }
        var rules: [Rule] = []
        for (index, item) in list.asList.enumerated() {
            guard case .object(let fields) = item, let name = fields["name"]?.scalarText, !name.isEmpty else {
                throw ConfigError("queue rule \(index + 1) needs a name")
            }
            var criteria: [String: [String]] = [:]
            for (key, value) in fields where key != "name" {
                guard criterionKeys.contains(key) else {
                    throw ConfigError("queue rule \(name): unknown criterion \(key) (use \(criterionKeys.joined(separator: ", ")))")
                }
                criteria[key] = value.asList.compactMap(\.scalarText).map { $0.lowercased() }
            }
            rules.append(Rule(name: name, criteria: criteria))
        }
        return QueueRules(rules: rules)
    }

    public func queue(for job: JobSpec) -> String {
        rules.first { $0.matches(job) }?.name ?? Self.fallbackQueue
    }
}

extension QueueRules.Rule {
    /// Every criterion matches: language/os/dist/arch equal one of the values; `services` when the job
    /// uses any of the listed services.
    func matches(_ job: JobSpec) -> Bool {
        criteria.allSatisfy { key, accepted in
            switch key {
            case "services":
                return job.services.contains { accepted.contains($0.lowercased()) }
            case "language": return accepted.contains(job.language.lowercased())
            case "os": return accepted.contains(job.os.lowercased())
            case "dist": return job.dist.map { accepted.contains($0.lowercased()) } ?? false
            case "arch": return job.arch.map { accepted.contains($0.lowercased()) } ?? false
            default: return false
            }
        }
    }
}
