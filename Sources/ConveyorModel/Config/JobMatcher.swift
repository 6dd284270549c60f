/// Matches `exclude` and `allow_failures` entries against jobs: every key the entry gives must match
/// (a subset match). `env` matches when all the entry's vars are among the job's own; `stage` compares
/// case-insensitively. An empty entry matches nothing.
struct JobMatcher {
    let fields: [String: JSONValue]
    let env: [String]?

    init?(_ entry: JSONValue, warnings: inout WarningList) {
        guard case .object(var fields) = entry, !fields.isEmpty else { return nil }
        if let envValue = fields.removeValue(forKey: "env") {
            env = EnvSection.entries(envValue, warnings: &warnings).map(\.matchKey)
        } else {
            env = nil
        }
        self.fields = fields
    }

    func matches(_ draft: JobDraft, stage: String?) -> Bool {
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
                if let have = draft.spec.keys[key] {
                    let candidates = wanted.asList.compactMap(\.scalarText)
                    guard let text = have.scalarText, candidates.contains(text) else { return false }
                } else if draft.effective[key] != wanted {
                    return false
                }
            }
        }
        return true
    }
}
