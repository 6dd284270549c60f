/// Turns a matrix row into a job draft: resolves language/os/dist/arch, the version keys, env
/// (global first, secure values decrypted or left out), phases with the language's default script,
/// services and git depth.
struct JobBuilder {
    let root: [String: JSONValue]
    let globalEnv: [RawEnvEntry]
    var secrets: SecureValues

    mutating func draft(from row: MatrixRow, warnings: inout WarningList) -> JobDraft {
        let effective = root.merging(row.fields) { $1 }
        var spec = JobSpec()
        spec.language = scalar(effective, "language", warnings: &warnings)?.lowercased() ?? ConfigKeys.defaultLanguage
        spec.os = scalar(effective, "os", warnings: &warnings) ?? ConfigKeys.defaultOS(language: spec.language)
        // Keys the job's os doesn't have are dropped (travis-yml): `arch` on osx, `osx_image` on linux.
        let onOS = { (key: String) in ConfigKeys.applies(key, toOS: spec.os) }
        spec.dist = onOS("dist") ? scalar(effective, "dist", warnings: &warnings) : nil
        if spec.os == "linux" && spec.dist == nil { spec.dist = ConfigKeys.defaultLinuxDist }
        spec.arch = onOS("arch") ? scalar(effective, "arch", warnings: &warnings) : nil
        spec.name = scalar(row.fields, "name", warnings: &warnings)
        spec.keys = ["language": .string(spec.language), "os": .string(spec.os)]
        if let dist = spec.dist { spec.keys["dist"] = .string(dist) }
        if let arch = spec.arch { spec.keys["arch"] = .string(arch) }
        for key in ConfigKeys.expansionKeys where spec.keys[key] == nil
            && ConfigKeys.applies(key, toLanguage: spec.language) && onOS(key) && key != "dist" && key != "arch" {
            if let value = scalar(effective, key, warnings: &warnings) { spec.keys[key] = .string(value) }
        }
        spec.env = secrets.resolve(globalEnv + row.env, warnings: &warnings)
        spec.phases = phases(effective, language: spec.language)
        spec.services = effective["services"]?.asList.compactMap(\.scalarText) ?? []
        spec.gitDepth = gitDepth(effective)
        spec.git = GitOptions(effective["git"], warnings: &warnings)
        spec.deploy = DeploySpec.parse(effective, warnings: &warnings)
        spec.cache = CacheSpec.parse(effective, warnings: &warnings)
        spec.allowFailure = row.fields["allow_failure"]?.boolValue ?? false
        let stage = row.fields["stage"]?.scalarText
        return JobDraft(spec: spec, effective: effective, ownEnv: row.env, stageName: stage,
                        condition: row.fromInclude ? row.fields["if"]?.scalarText : nil)
    }

    /// A scalar value; a list contributes its first element (with a warning).
    private func scalar(_ fields: [String: JSONValue], _ key: String, warnings: inout WarningList) -> String? {
        guard let value = fields[key], !value.isNull else { return nil }
        let list = value.asList
        if list.count > 1 { warnings.add("\(key) in a job takes one value; using the first") }
        return list.first?.scalarText
    }

    /// A phase is a string or a list; `skip` or `true` (Travis's idioms) mean no commands.
    private func phases(_ effective: [String: JSONValue], language: String) -> [Phase: [String]] {
        var phases: [Phase: [String]] = [:]
        for phase in Phase.allCases {
            guard let value = effective[phase.rawValue] else { continue }
            let commands = value.asList.compactMap { item -> String? in
                if item == .bool(true) || item == .string("skip") { return nil }
                return item.scalarText
            }
            phases[phase] = commands
        }
        if phases[.script] == nil, let script = ConfigKeys.defaultScripts[language] {
            phases[.script] = script
        }
        return phases.filter { !$0.value.isEmpty }
    }

    /// `git: depth: N`, or `depth: false` for a full clone (0).
    private func gitDepth(_ effective: [String: JSONValue]) -> Int {
        switch effective["git"]?["depth"] {
        case .int(let depth)?: return max(0, depth)
        case .bool(false)?: return 0
        default: return ConfigKeys.defaultGitDepth
        }
    }
}
