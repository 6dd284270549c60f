/// `branches: only / except` (names or `/regex/`), and `[ci skip]` in commit messages.
enum BranchRules {
    /// Why the branch is excluded, or nil when it may build. `only` wins over `except`; a bare list is `only`.
    static func exclusionReason(branches: JSONValue?, branch: String, warnings: inout WarningList) throws(ConfigError) -> String? {
        guard let branches, !branches.isNull else { return nil }
        let only: [JSONValue]?
        let except: [JSONValue]?
        switch branches {
        case .object(let rules):
            only = rules["only"]?.asList
            except = rules["except"]?.asList
        default:
            only = branches.asList
            except = nil
        }
        if let only, !only.isEmpty {
            return try matchesAny(branch, only, warnings: &warnings) ? nil : "branch \(branch) is not included by branches.only"
        }
        if let except, try matchesAny(branch, except, warnings: &warnings) {
            return "branch \(branch) is excluded by branches.except"
        }
        return nil
    }

    /// A name, or `/regex/` with Ruby's flags after it (`/^release/i`). An invalid pattern is ignored
    /// with a warning (it matches nothing); a match past the regex limits is an error.
    private static func matchesAny(_ branch: String, _ patterns: [JSONValue], warnings: inout WarningList) throws(ConfigError) -> Bool {
        for pattern in patterns.compactMap(\.scalarText) {
            if let (source, flags) = regexParts(pattern) {
                do {
                    try RegexMatch.validate(source, flags: flags)
                } catch {
                    warnings.add("invalid branch pattern \(pattern) ignored: \(error.message)")
                    continue
                }
                if try RegexMatch.matches(branch, pattern: source, flags: flags) { return true }
            } else if pattern == branch {
                return true
            }
        }
        return false
    }

    /// `/source/flags` split, or nil for a plain name.
    private static func regexParts(_ pattern: String) -> (String, String)? {
        guard pattern.count >= 2, pattern.hasPrefix("/") else { return nil }
        let flags = pattern.reversed().prefix { "imx".contains($0) }
        let body = pattern.dropLast(flags.count)
        guard body.count >= 2, body.hasSuffix("/") else { return nil }
        return (String(body.dropFirst().dropLast()), String(flags.reversed()))
    }

    /// `[ci skip]`, `[skip ci]` (also with `travis` or `conveyor` for `ci`), in any case.
    static func skipMarker(in message: String) -> String? {
        let lowered = message.lowercased()
        for word in ["ci", "travis", "conveyor"] {
            for marker in ["[\(word) skip]", "[skip \(word)]"] where lowered.contains(marker) {
                return marker
            }
        }
        return nil
    }
}
