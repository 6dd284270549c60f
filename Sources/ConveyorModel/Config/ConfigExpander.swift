/// Expands a `.conveyor.yml` / `.travis.yml` into the jobs of one build, following travis-yml:
/// skip checks, then the matrix (product, include, global env, exclude, dedupe, `if:` filtering),
/// then stages and numbering. See docs/config.md.
public enum ConfigExpander {
    /// Parses YAML (Yams) and expands it. `secureDecryption` decides what happens to `secure:` values:
    /// nil → the variable is left out of jobs with a warning; a closure → called with the ciphertext to get
    /// the value (`EnvVar.secure = true`). `overrides` (an API trigger's YAML) is deep-merged over the config.
    public static func expand(yaml: String, context: BuildRequestContext, limits: ConfigLimits = ConfigLimits(),
                              secureDecryption: (@Sendable (String) -> String?)? = nil,
                              overrides: String? = nil) throws(ConfigError) -> ExpandedBuild {
        try expand(loaded: try YAMLLoader.load(text: yaml, limits: limits), context: context, limits: limits,
                   secureDecryption: secureDecryption, overrides: overrides)
    }

    /// Same, from raw bytes: rejects oversized input and invalid UTF-8 with a clear error.
    public static func expand(yamlData: [UInt8], context: BuildRequestContext, limits: ConfigLimits = ConfigLimits(),
                              secureDecryption: (@Sendable (String) -> String?)? = nil,
                              overrides: String? = nil) throws(ConfigError) -> ExpandedBuild {
        try expand(loaded: try YAMLLoader.load(bytes: yamlData, limits: limits), context: context, limits: limits,
                   secureDecryption: secureDecryption, overrides: overrides)
    }

    /// Parsing warnings (duplicate keys) come first in the build's warnings.
    private static func expand(loaded config: YAMLLoader.Loaded, context: BuildRequestContext, limits: ConfigLimits,
                               secureDecryption: (@Sendable (String) -> String?)?,
                               overrides: String?) throws(ConfigError) -> ExpandedBuild {
        let override = try overrides.map { text throws(ConfigError) in
            try YAMLLoader.load(text: text, limits: limits, what: "override config")
        }
        var build = try expand(config: config.value, override: override?.value, context: context, limits: limits,
                               secureDecryption: secureDecryption)
        var warnings = WarningList()
        for warning in config.warnings + (override?.warnings ?? []) + build.warnings { warnings.add(warning) }
        build.warnings = warnings.items
        return build
    }

    /// Expands an already parsed config.
    public static func expand(config: JSONValue, override: JSONValue? = nil, context: BuildRequestContext,
                              limits: ConfigLimits = ConfigLimits(),
                              secureDecryption: (@Sendable (String) -> String?)? = nil) throws(ConfigError) -> ExpandedBuild {
        let merged = override.map { config.deepMerged(with: $0) } ?? config
        let root: [String: JSONValue]
        switch merged {
        case .object(let object): root = object
        case .null: root = [:]
        default: throw ConfigError("config must be a mapping of keys to values at the top level")
        }
        var expansion = MatrixExpansion(root: root, context: context, limits: limits,
                                        secrets: SecureValues(decrypt: secureDecryption))
        return try expansion.run()
    }
}
