/// Expands a `.conveyor.yml` / `.travis.yml` into the jobs of one build, following travis-yml:
/// skip checks, then the matrix (product, include, global env, exclude, dedupe, `if:` filtering),
/// then stages and numbering. See docs/config.md.
public enum ConfigExpander {
    /// Parses YAML (Yams) and expands it. `secureDecryption` decides what happens to `secure:` values:
    /// nil → the variable is left out of jobs with a warning; a closure → called with the ciphertext to get
    /// the value (`EnvVar.secure = true`). With `keepSecureValuesSealed` they stay ciphertext in the jobs
    /// (`EnvVar.sealed`), for the worker to decrypt at the last moment. `overrides` (an API trigger's YAML) is deep-merged over the config.
    public static func expand(yaml: String, context: BuildRequestContext, limits: ConfigLimits = ConfigLimits(),
                              secureDecryption: (@Sendable (String) -> String?)? = nil,
                              keepSecureValuesSealed: Bool = false,
                              overrides: String? = nil) throws(ConfigError) -> ExpandedBuild {
        let config = try YAMLLoader.loadDocument(text: yaml, limits: limits)
        return try expand(document: config, overrides: overrides, context: context, limits: limits,
                          secureDecryption: secureDecryption, keepSecureValuesSealed: keepSecureValuesSealed)
    }

    /// Same, from raw bytes: rejects oversized input and invalid UTF-8 with a clear error.
    public static func expand(yamlData: [UInt8], context: BuildRequestContext, limits: ConfigLimits = ConfigLimits(),
                              secureDecryption: (@Sendable (String) -> String?)? = nil,
                              keepSecureValuesSealed: Bool = false,
                              overrides: String? = nil) throws(ConfigError) -> ExpandedBuild {
        let config = try YAMLLoader.loadDocument(bytes: yamlData, limits: limits)
        return try expand(document: config, overrides: overrides, context: context, limits: limits,
                          secureDecryption: secureDecryption, keepSecureValuesSealed: keepSecureValuesSealed)
    }

    /// Parsing warnings (duplicate keys) come first in the build's warnings.
    private static func expand(document: YAMLLoader.Document, overrides: String?, context: BuildRequestContext,
                               limits: ConfigLimits, secureDecryption: (@Sendable (String) -> String?)?,
                               keepSecureValuesSealed: Bool) throws(ConfigError) -> ExpandedBuild {
        let override = try overrides.map { text throws(ConfigError) in
            try YAMLLoader.loadDocument(text: text, limits: limits, what: "override config")
        }
        let keyOrder = override.map { document.keyOrder.merging($0.keyOrder) } ?? document.keyOrder
        var build = try expand(config: document.value, override: override?.value, context: context, limits: limits,
                               secureDecryption: secureDecryption, keepSecureValuesSealed: keepSecureValuesSealed, keyOrder: keyOrder)
        var warnings = WarningList()
        for warning in document.warnings + (override?.warnings ?? []) + build.warnings { warnings.add(warning) }
        build.warnings = warnings.items
        return build
    }

    /// Expands an already parsed config.
    public static func expand(config: JSONValue, override: JSONValue? = nil, context: BuildRequestContext,
                              limits: ConfigLimits = ConfigLimits(),
                              secureDecryption: (@Sendable (String) -> String?)? = nil,
                              keepSecureValuesSealed: Bool = false,
                              keyOrder: KeyOrder = KeyOrder()) throws(ConfigError) -> ExpandedBuild {
        let merged = override.map { config.deepMerged(with: $0) } ?? config
        let root: [String: JSONValue]
        switch merged {
        case .object(let object): root = object
        case .null: root = [:]
        default: throw ConfigError("config must be a mapping of keys to values at the top level")
        }
        var expansion = MatrixExpansion(root: root, context: context, limits: limits,
                                        secrets: SecureValues(decrypt: secureDecryption, keepSealed: keepSecureValuesSealed), keyOrder: keyOrder)
        return try expansion.run()
    }
}
