/// Reads top-level settings of the (merged) config.
enum RootConfig {
    static func language(of config: [String: JSONValue], warnings: inout WarningList) -> String {
        guard let value = config["language"], !value.isNull else { return ConfigKeys.defaultLanguage }
        let values = value.asList
        if values.count > 1 { warnings.add("language takes one value; using \(values[0].scalarText ?? "the first")") }
        return values.first?.scalarText?.lowercased() ?? ConfigKeys.defaultLanguage
    }

    /// `jobs` (or its alias `matrix`) as a mapping; a bare list is taken as `include`.
    static func jobsSection(of config: [String: JSONValue], warnings: inout WarningList) -> [String: JSONValue] {
        if config["jobs"] != nil && config["matrix"] != nil {
            warnings.add("both jobs and matrix given; using jobs")
        }
        switch config["jobs"] ?? config["matrix"] {
        case .object(let section)?: return section
        case .array(let include)?: return ["include": .array(include)]
        case nil, .null?: return [:]
        default:
            warnings.add("jobs must be a mapping, ignored")
            return [:]
        }
    }

    static func warnUnknownKeys(of config: [String: JSONValue], warnings: inout WarningList) {
        for key in config.keys.sorted() where !ConfigKeys.knownTopLevelKeys.contains(key) {
            warnings.add("unknown key \(key) ignored")
        }
    }
}
