/// Turns config text into a `JSONValue`, within `ConfigLimits`. Only this file and `YAMLComposer`
/// touch YAML (libyaml's events through Yams' `CYaml`, Yams' scalar resolver).
enum YAMLLoader {
    /// A parsed document, the order its mappings were written in, and the warnings parsing it
    /// produced (duplicate keys).
    struct Document {
        var value: JSONValue
        var keyOrder: KeyOrder
        var warnings: [String]
    }

    static func load(bytes: [UInt8], limits: ConfigLimits, what: String = "config") throws(ConfigError) -> JSONValue {
        try loadDocument(bytes: bytes, limits: limits, what: what).value
    }

    static func load(text: String, limits: ConfigLimits, what: String = "config") throws(ConfigError) -> JSONValue {
        try loadDocument(text: text, limits: limits, what: what).value
    }

    static func loadDocument(bytes: [UInt8], limits: ConfigLimits, what: String = "config") throws(ConfigError) -> Document {
        try checkSize(bytes.count, limits: limits, what: what)
        guard String(validating: bytes, as: UTF8.self) != nil else {
            let offset = firstInvalidUTF8Offset(bytes) ?? 0
            throw ConfigError("\(what) is not valid UTF-8 text (first bad byte at offset \(offset))")
        }
        var composer = YAMLComposer(bytes: bytes, limits: limits)
        let value = try composer.compose()
        return Document(value: value, keyOrder: composer.keyOrder,
                        warnings: composer.warnings.map { what == "config" ? $0 : "\(what): \($0)" })
    }

    static func loadDocument(text: String, limits: ConfigLimits, what: String = "config") throws(ConfigError) -> Document {
        try loadDocument(bytes: Array(text.utf8), limits: limits, what: what)
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
}
