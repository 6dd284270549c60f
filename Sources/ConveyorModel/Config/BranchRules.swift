/// `branches: only / except` (names or `/regex/`), and `[ci skip]` in commit messages.
enum BranchRules {
    /// Why the branch is excluded, or nil when it may build. `only` wins over `except`; a bare list is `only`.
    static func exclusionReason(branches: JSONValue?, branch: String, warnings: inout WarningList) -> String? {
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
            return matchesAny(branch, only, warnings: &warnings) ? nil : "branch \(branch) is not included by branches.only"
        }
        if let except, matchesAny(branch, except, warnings: &warnings) {
            return "branch \(branch) is excluded by branches.except"
        }
        return nil
    }

    private static func matchesAny(_ branch: String, _ patterns: [JSONValue], warnings: inout WarningList) -> Bool {
        patterns.compactMap(\.scalarText).contains { pattern in
            if pattern.count >= 2, pattern.hasPrefix("/"), pattern.hasSuffix("/") {
                let source = String(pattern.dropFirst().dropLast())
                if !RegexMatch.isValid(source) { warnings.add("invalid branch pattern \(pattern) ignored") }
                return RegexMatch.matches(branch, pattern: source)
            }
            return pattern == branch
        }
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
