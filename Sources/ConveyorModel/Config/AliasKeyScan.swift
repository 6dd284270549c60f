/// Yams hashes whole mapping keys to find duplicates, so an alias of a huge ("billion laughs") node used
/// as a key would hang it before our own node budget can act. Configs don't use aliases as keys, so any
/// that looks like one is refused up front. Aliases as values are fine: they are counted while converting.
enum AliasKeyScan {
    static func check(_ text: String) throws(ConfigError) {
        let bytes = Array(text.utf8)
        guard bytes.contains(UInt8(ascii: "*")) else { return }
        var lineNumber = 1
        var lineStart = 0
        for index in bytes.indices {
            if bytes[index] == UInt8(ascii: "\n") {
                lineNumber += 1
                lineStart = index + 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "*"), startsKeyPosition(bytes, at: index, lineStart: lineStart) else {
                continue
            }
            var end = index + 1
            while end < bytes.count, isAnchorByte(bytes[end]) { end += 1 }
            guard end > index + 1 else { continue }
            while end < bytes.count, bytes[end] == UInt8(ascii: " ") || bytes[end] == UInt8(ascii: "\t") { end += 1 }
            let followedByColon = end < bytes.count && bytes[end] == UInt8(ascii: ":")
                && (end + 1 == bytes.count || [UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\t"),
                                                UInt8(ascii: "\r"), UInt8(ascii: ",")].contains(bytes[end + 1]))
            if followedByColon || precededByQuestionMark(bytes, at: index, lineStart: lineStart) {
                throw ConfigError("invalid YAML: an alias cannot be used as a mapping key",
                                  line: lineNumber, column: index - lineStart + 1)
            }
        }
    }

    /// The `*` starts a line's content (after indentation and `- `), or follows `{`, `,` or `? `.
    private static func startsKeyPosition(_ bytes: [UInt8], at index: Int, lineStart: Int) -> Bool {
        var cursor = index - 1
        while cursor >= lineStart, bytes[cursor] == UInt8(ascii: " ") || bytes[cursor] == UInt8(ascii: "\t") {
            cursor -= 1
        }
        if cursor < lineStart { return true }
        switch bytes[cursor] {
        case UInt8(ascii: "{"), UInt8(ascii: ","), UInt8(ascii: "?"): return true
        case UInt8(ascii: "-"): return startsKeyPosition(bytes, at: cursor, lineStart: lineStart)
        default: return false
        }
    }

    private static func precededByQuestionMark(_ bytes: [UInt8], at index: Int, lineStart: Int) -> Bool {
        var cursor = index - 1
        while cursor >= lineStart, bytes[cursor] == UInt8(ascii: " ") { cursor -= 1 }
        return cursor >= lineStart && bytes[cursor] == UInt8(ascii: "?")
    }

    /// libyaml's anchor names: letters, digits, `-` and `_`.
    private static func isAnchorByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }
}
