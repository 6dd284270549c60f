/// Stage names and order, and stage-level `if:` conditions.
struct StagePlan {
    struct Stage {
        var name: String
        var condition: String?
    }

    /// True when the config declares `stages:` or any job names a stage.
    let inUse: Bool
    private(set) var stages: [Stage] = []

    init(root: [String: JSONValue], drafts: [JobDraft], warnings: inout WarningList) {
        inUse = root["stages"] != nil || drafts.contains { $0.stageName != nil }
        guard inUse else { return }
        for item in root["stages"]?.asList ?? [] {
            switch item {
            case .object(let object):
                guard let name = object["name"]?.scalarText else {
                    warnings.add("a stage without a name ignored")
                    continue
                }
                add(Stage(name: name, condition: object["if"]?.scalarText))
            default:
                if let name = item.scalarText { add(Stage(name: name)) }
            }
        }
        // Stages that jobs name but `stages:` doesn't list follow, in order of first use.
        for draft in drafts { add(Stage(name: draft.stageName ?? ConfigKeys.defaultStage)) }
    }

    private mutating func add(_ stage: Stage) {
        if index(of: stage.name) == nil { stages.append(stage) }
    }

    func index(of name: String) -> Int? {
        stages.firstIndex { $0.name.lowercased() == name.lowercased() }
    }

    /// The stage a job belongs to (its declared spelling), nil when stages are not used.
    func stage(for draft: JobDraft) -> Stage? {
        guard inUse else { return nil }
        return index(of: draft.stageName ?? ConfigKeys.defaultStage).map { stages[$0] }
    }
}
