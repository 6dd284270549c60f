/// An env entry as written in the config, before secure values are decrypted.
enum RawEnvEntry: Hashable {
    case plain(EnvVar)
    /// `- secure: "…"` (the ciphertext holds `NAME=value`), or `NAME: {secure: "…"}` (name known).
    case secure(name: String?, ciphertext: String)

    /// What exclude / allow_failures matching compares.
    var matchKey: String {
        switch self {
        case .plain(let envVar): return "\(envVar.name)=\(envVar.value)"
        case .secure(_, let ciphertext): return "secure:\(ciphertext)"
        }
    }
}

/// Reads the `env` forms travis-yml accepts.
struct EnvSection {
    var global: [RawEnvEntry] = []
    /// One entry per job of the `env.jobs` matrix dimension.
    var jobs: [[RawEnvEntry]] = []

    init(_ value: JSONValue?, keyOrder: KeyOrder, warnings: inout WarningList) {
        guard let value else { return }
        if case .object(let object) = value,
           object.keys.contains(where: { ["global", "jobs", "matrix"].contains($0) }) {
            global = object["global"].map { Self.entries($0, keyOrder: keyOrder, warnings: &warnings) } ?? []
            if let jobsValue = object["jobs"] ?? object["matrix"] {
                jobs = Self.jobEntries(jobsValue, keyOrder: keyOrder, warnings: &warnings)
            }
            for key in object.keys.sorted() where !["global", "jobs", "matrix"].contains(key) {
                warnings.add("unknown key env.\(key) ignored")
            }
        } else {
            jobs = Self.jobEntries(value, keyOrder: keyOrder, warnings: &warnings)
        }
    }

    /// A list is one job per item; a string or mapping is a single job.
    static func jobEntries(_ value: JSONValue, keyOrder: KeyOrder, warnings: inout WarningList) -> [[RawEnvEntry]] {
        switch value {
        case .array(let items):
            return items.map { entries($0, keyOrder: keyOrder, warnings: &warnings) }.filter { !$0.isEmpty }
        case .null:
            return []
        default:
            let single = entries(value, keyOrder: keyOrder, warnings: &warnings)
            return single.isEmpty ? [] : [single]
        }
    }

    /// All entries of one env value: a string, a list of strings / mappings, or a mapping (in written order).
    static func entries(_ value: JSONValue, keyOrder: KeyOrder = KeyOrder(), warnings: inout WarningList) -> [RawEnvEntry] {
        switch value {
        case .null:
            return []
        case .array(let items):
            return items.flatMap { entries($0, keyOrder: keyOrder, warnings: &warnings) }
        case .object(let object):
            if object.count == 1, let secure = object["secure"] {
                guard let ciphertext = secure.scalarText else {
                    warnings.add("env secure value must be a string")
                    return []
                }
                return [.secure(name: nil, ciphertext: ciphertext)]
            }
            return keyOrder.ordered(object.keys).compactMap { name in
                entry(name: name, value: object[name] ?? .null, warnings: &warnings)
            }
        default:
            let parsed = EnvAssignments.parse(value.scalarText ?? "")
            for word in parsed.invalid { warnings.add("env entry \"\(word)\" is not NAME=value, ignored") }
            return parsed.vars.map(RawEnvEntry.plain)
        }
    }

    private static func entry(name: String, value: JSONValue, warnings: inout WarningList) -> RawEnvEntry? {
        guard EnvAssignments.isValidName(Substring(name)) else {
            warnings.add("env variable name \"\(name)\" is invalid, ignored")
            return nil
        }
        if case .object(let object) = value, let secure = object["secure"]?.scalarText {
            return .secure(name: name, ciphertext: secure)
        }
        guard let text = value.isNull ? "" : value.scalarText else {
            warnings.add("env variable \(name) must have a scalar value, ignored")
            return nil
        }
        return .plain(EnvVar(name: name, value: text, secure: false, expandsVariables: true))
    }
}
