/// One job of an expanded build: everything a worker needs to compile its script and a queue rule needs
/// to route it.
public struct JobSpec: Sendable, Codable, Hashable {
    /// 1-based position in the build (job "12.3" has number 3).
    public var number: Int
    /// Stage name, nil when the config has no stages.
    public var stage: String?
    /// Order of its stage, 0-based.
    public var stageIndex: Int
    public var allowFailure: Bool
    public var name: String?
    public var language: String
    public var os: String
    public var dist: String?
    public var arch: String?
    /// The scalar matrix keys of this job (rvm, node_js, …) and language/os/dist/arch, as strings.
    public var keys: [String: JSONValue]
    /// env.global first, then the job's own.
    public var env: [EnvVar]
    public var phases: [Phase: [String]]
    public var services: [String]
    /// `git: depth:`; 0 means a full clone (`depth: false`).
    public var gitDepth: Int
    /// The other `git:` options; nil means travis-build's defaults.
    public var git: GitOptions?
    /// Why the job gets no secure values or secret settings variables (a pull request from a fork),
    /// printed at the top of its log. nil when nothing was withheld.
    public var secretsWithheld: String?
    /// `deploy:` with before_deploy/after_deploy; nil when the job deploys nothing.
    public var deploy: DeploySpec?
    /// `cache:` with before_cache; nil when the job caches nothing (docs/cache.md).
    public var cache: CacheSpec?

    public init(number: Int = 1, stage: String? = nil, stageIndex: Int = 0, allowFailure: Bool = false,
                name: String? = nil, language: String = "ruby", os: String = "linux",
                dist: String? = nil, arch: String? = nil, keys: [String: JSONValue] = [:], env: [EnvVar] = [],
                phases: [Phase: [String]] = [:], services: [String] = [], gitDepth: Int = 50) {
        self.number = number
        self.stage = stage
        self.stageIndex = stageIndex
        self.allowFailure = allowFailure
        self.name = name
        self.language = language
        self.os = os
        self.dist = dist
        self.arch = arch
        self.keys = keys
        self.env = env
        self.phases = phases
        self.services = services
        self.gitDepth = gitDepth
    }

    /// The job as `config expand` shows it: its keys, `env` as `"KEY=value"` strings (secure ones as
    /// `"KEY=[secure]"`), `stage`, `allow_failure`, and `name` if it has one.
    public func expandedJSON() -> JSONValue {
        var object = keys
        object["language"] = .string(language)
        object["os"] = .string(os)
        if let dist { object["dist"] = .string(dist) }
        if let arch { object["arch"] = .string(arch) }
        object["env"] = .array(env.map { .string($0.displayText) })
        object["stage"] = stage.map(JSONValue.string) ?? .null
        object["allow_failure"] = .bool(allowFailure)
        object["number"] = .int(number)
        if let name { object["name"] = .string(name) }
        return .object(object)
    }
}
