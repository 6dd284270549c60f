/// One row of the build matrix before it becomes a job: the fields it sets over the root config, and its
/// own env (global env is added later).
struct MatrixRow {
    var fields: [String: JSONValue]
    var env: [RawEnvEntry]
    var fromInclude: Bool
}

/// Builds the rows: the cartesian product of the expansion keys, then `jobs.include`.
struct MatrixRows {
    let root: [String: JSONValue]
    let envSection: EnvSection
    let limits: ConfigLimits
    let keyOrder: KeyOrder

    /// Every expansion key the root sets, with its values, in `ConfigKeys.expansionKeys` order.
    func dimensions(warnings: inout WarningList) -> [(key: String, values: [JSONValue])] {
        let language = RootConfig.language(of: root, warnings: &warnings)
        var dimensions: [(key: String, values: [JSONValue])] = []
        for key in ConfigKeys.expansionKeys {
            guard let value = root[key], !value.isNull else { continue }
            guard ConfigKeys.applies(key, toLanguage: language) else {
                warnings.add("\(key) is ignored for language \(language)")
                continue
            }
            let values = value.asList.filter { $0.isScalar }
            if values.count != value.asList.count { warnings.add("non-scalar values of \(key) ignored") }
            if !values.isEmpty { dimensions.append((key, values)) }
        }
        return dimensions
    }

    func rows(includes: [JSONValue], warnings: inout WarningList) throws(ConfigError) -> [MatrixRow] {
        let dimensions = dimensions(warnings: &warnings)
        let envJobs = envSection.jobs
        var size = envJobs.isEmpty ? 1 : envJobs.count
        for dimension in dimensions {
            let (product, overflow) = size.multipliedReportingOverflow(by: dimension.values.count)
            size = overflow ? Int.max : product
        }
        // A lone row is replaced by the includes (see below).
        let (withIncludes, includeOverflow) = size.addingReportingOverflow(includes.count)
        size = size == 1 && !includes.isEmpty ? includes.count : includeOverflow ? Int.max : withIncludes
        // Refuse before drafting any job (includes counted too); exclusions may still bring a moderately
        // larger matrix under the limit.
        if size > limits.maxJobs * 10 {
            throw ConfigError("build matrix expands to \(size == Int.max ? "too many" : String(size)) jobs, more than the maximum of \(limits.maxJobs)")
        }
        var product: [[String: JSONValue]] = [[:]]
        for dimension in dimensions {
            product = product.flatMap { row in
                dimension.values.map { value in row.merging([dimension.key: value]) { $1 } }
            }
        }
        var rows: [MatrixRow] = []
        for fields in product {
            if envJobs.isEmpty {
                rows.append(MatrixRow(fields: fields, env: [], fromInclude: false))
            } else {
                rows += envJobs.map { MatrixRow(fields: fields, env: $0, fromInclude: false) }
            }
        }
        let included = includeRows(includes, dimensions: dimensions, warnings: &warnings)
        // A lone job made only of single values is replaced by explicit includes (travis-yml).
        if rows.count == 1 && !included.isEmpty { return included }
        return rows + included
    }

    /// Includes inherit the first value of each expansion key they don't set (if it fits their language),
    /// the first `env.jobs` entry when they set no env, and the previous include's stage.
    private func includeRows(_ includes: [JSONValue], dimensions: [(key: String, values: [JSONValue])],
                             warnings: inout WarningList) -> [MatrixRow] {
        var rows: [MatrixRow] = []
        var previousStage: JSONValue?
        for (index, include) in includes.enumerated() {
            guard case .object(var fields) = include else {
                warnings.add("jobs.include entry \(index + 1) is not a mapping, ignored")
                continue
            }
            for key in fields.keys.sorted() where !ConfigKeys.knownTopLevelKeys.contains(key)
                && !ConfigKeys.jobOnlyKeys.contains(key) {
                warnings.add("unknown key \(key) in jobs.include ignored")
            }
            let envValue = fields.removeValue(forKey: "env")
            var env = envValue.map { EnvSection.entries($0, keyOrder: keyOrder, warnings: &warnings) } ?? []
            if envValue == nil, let first = envSection.jobs.first { env = first }
            let language = fields["language"]?.asList.first?.scalarText ?? RootConfig.language(of: root, warnings: &warnings)
            for dimension in dimensions where fields[dimension.key] == nil
                && ConfigKeys.applies(dimension.key, toLanguage: language) {
                fields[dimension.key] = dimension.values[0]
            }
            if let stage = fields["stage"] {
                previousStage = stage
            } else if let previousStage {
                fields["stage"] = previousStage
            }
            rows.append(MatrixRow(fields: fields, env: env, fromInclude: true))
        }
        return rows
    }
}
