/// Matches `exclude` and `allow_failures` entries against jobs: every key the entry gives must match
/// (a subset match). `env` matches when all the entry's vars are among the job's own; `stage` compares
/// case-insensitively; `if:` must hold for the job (travis-yml's conditional exclude). An empty entry
/// matches nothing.
struct JobMatcher {
    let fields: [String: JSONValue]
    let env: [String]?
    let condition: ConditionExpr?

    init?(_ entry: JSONValue, keyOrder: KeyOrder = KeyOrder(), warnings: inout WarningList) throws(ConfigError) {
        guard case .object(var fields) = entry, !fields.isEmpty else { return nil }
        if let envValue = fields.removeValue(forKey: "env") {
            env = EnvSection.entries(envValue, keyOrder: keyOrder, warnings: &warnings).map(\.matchKey)
        } else {
            env = nil
        }
        if let condition = fields.removeValue(forKey: "if") {
            guard let source = condition.scalarText else {
                throw ConfigError("an if: condition must be a string")
            }
            self.condition = try Condition.parse(source)
        } else {
            self.condition = nil
        }
        self.fields = fields
    }

    func matches(_ draft: JobDraft, stage: String?, context: BuildRequestContext) throws(ConfigError) -> Bool {
        if let env {
            let own = Set(draft.ownEnv.map(\.matchKey))
            guard env.allSatisfy(own.contains) else { return false }
        }
        for (key, wanted) in fields {
            switch key {
            case "name":
                guard draft.spec.name == wanted.scalarText else { return false }
            case "stage":
                guard let stage, stage.lowercased() == wanted.scalarText?.lowercased() else { return false }
            case "allow_failure":
                continue
            default:
                // A key the job's os drops (arch on osx) is not the job's: an entry naming it doesn't match.
                guard ConfigKeys.applies(key, toOS: draft.spec.os) else { return false }
                if let have = draft.spec.keys[key] {
                    let candidates = wanted.asList.compactMap(\.scalarText)
                    guard let text = have.scalarText, candidates.contains(text) else { return false }
                } else if draft.effective[key] != wanted {
                    return false
                }
            }
        }
        if let condition {
            return try condition.evaluate(context: context, env: draft.spec.env, jobKeys: draft.spec.keys)
        }
        return true
    }
}
