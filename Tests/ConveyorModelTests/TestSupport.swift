@testable import ConveyorModel

/// A push to `branch` of owner/repo.
func pushContext(branch: String = "main", message: String = "a commit") -> BuildRequestContext {
    BuildRequestContext(branch: branch, eventType: "push", repo: "owner/repo", commitMessage: message)
}

/// Expands YAML for a push to main (or the given context), failing the test on error.
func expand(_ yaml: String, context: BuildRequestContext = pushContext(),
            decrypt: (@Sendable (String) -> String?)? = nil, overrides: String? = nil) throws -> ExpandedBuild {
    try ConfigExpander.expand(yaml: yaml, context: context, secureDecryption: decrypt, overrides: overrides)
}

/// The error an expansion throws, or nil.
func expansionError(_ yaml: String, limits: ConfigLimits = ConfigLimits()) -> ConfigError? {
    do {
        _ = try ConfigExpander.expand(yaml: yaml, context: pushContext(), limits: limits)
        return nil
    } catch {
        return error
    }
}

extension JobSpec {
    /// The value of a matrix key as text.
    func key(_ name: String) -> String? { keys[name]?.scalarText }
    var envText: [String] { env.map(\.displayText) }
}
