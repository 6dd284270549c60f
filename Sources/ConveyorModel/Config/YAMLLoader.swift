import Yams

/// Turns config text into a `JSONValue`, within `ConfigLimits`. The only place that touches Yams.
enum YAMLLoader {
    /// A parsed document and the order its mappings were written in.
    struct Document {
        var value: JSONValue
        var keyOrder: KeyOrder
    }

    static func load(bytes: [UInt8], limits: ConfigLimits, what: String = "config") throws(ConfigError) -> JSONValue {
        try loadDocument(bytes: bytes, limits: limits, what: what).value
    }

    static func load(text: String, limits: ConfigLimits, what: String = "config") throws(ConfigError) -> JSONValue {
        try loadDocument(text: text, limits: limits, what: what).value
    }

    static func loadDocument(bytes: [UInt8], limits: ConfigLimits, what: String = "config") throws(ConfigError) -> Document {
        try checkSize(bytes.count, limits: limits, what: what)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            let offset = firstInvalidUTF8Offset(bytes) ?? 0
            throw ConfigError("\(what) is not valid UTF-8 text (first bad byte at offset \(offset))")
        }
        return try loadDocument(text: text, limits: limits, what: what)
    }

    static func loadDocument(text: String, limits: ConfigLimits, what: String = "config") throws(ConfigError) -> Document {
        try checkSize(text.utf8.count, limits: limits, what: what)
        try AliasKeyScan.check(text)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw configError(from: error)
        } catch {
            throw ConfigError("invalid YAML: \(error)")
        }
        guard let root else { return Document(value: .null, keyOrder: KeyOrder()) }
        var converter = YAMLNodeConverter(nodeBudget: limits.maxAliasExpansion, maxDepth: limits.maxDepth)
        let value = try converter.convert(root)
        return Document(value: value, keyOrder: converter.keyOrder)
    }

    private static func checkSize(_ count: Int, limits: ConfigLimits, what: String) throws(ConfigError) {
        if count > limits.maxConfigBytes {
            throw ConfigError("\(what) is \(count) bytes, more than the maximum of \(limits.maxConfigBytes) bytes")
        }
    }

    private static func firstInvalidUTF8Offset(_ bytes: [UInt8]) -> Int? {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let scalar): offset += UTF8.width(scalar)
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    static func configError(from error: YamlError) -> ConfigError {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let detail = [problem, context.map { $0.text }].compactMap { $0 }.filter { !$0.isEmpty }
            return ConfigError("invalid YAML: " + detail.joined(separator: " "), line: mark.line, column: mark.column)
        case let .duplicatedKeysInMapping(duplicates, context):
            let keys = duplicates.map { "'\($0)'" }.joined(separator: ", ")
            return ConfigError("invalid YAML: duplicate key \(keys)", line: context.mark.line, column: context.mark.column)
        case let .reader(problem, offset, _, _):
            return ConfigError("invalid YAML: \(problem)" + (offset.map { " at byte \($0)" } ?? ""))
        default:
            return ConfigError("invalid YAML: \(error)")
        }
    }
}
