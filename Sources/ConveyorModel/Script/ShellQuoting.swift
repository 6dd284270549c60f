import Foundation

/// Quoting for values spliced into generated bash.
enum ShellQuoting {
    /// `'…'` with embedded single quotes as `'\''`: the text reaches the command literally.
    static func singleQuoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// `"…"` in which only `$NAME` and `${NAME}` expand (as Travis env values do); backquotes, `$(`,
    /// other `$` forms, `"` and `\` are escaped, so no command can run from the value.
    static func doubleQuotedExpandingVariables(_ text: String) -> String {
        let chars = Array(text)
        var result = "\""
        var index = 0
        while index < chars.count {
            let char = chars[index]
            switch char {
            case "\\", "\"", "`":
                result += "\\" + String(char)
            case "$":
                if let reference = variableReference(chars, at: index) {
                    result += reference
                    index += reference.count
                    continue
                }
                result += "\\$"
            default:
                result.append(char)
            }
            index += 1
        }
        return result + "\""
    }

    /// `$NAME` or `${NAME}` starting at `index`, if that is what's there.
    private static func variableReference(_ chars: [Character], at index: Int) -> String? {
        var cursor = index + 1
        let braced = cursor < chars.count && chars[cursor] == "{"
        if braced { cursor += 1 }
        let nameStart = cursor
        while cursor < chars.count, chars[cursor] == "_" || (chars[cursor].isASCII && (chars[cursor].isLetter
            || (cursor > nameStart && chars[cursor].isNumber))) {
            cursor += 1
        }
        guard cursor > nameStart else { return nil }
        if braced {
            guard cursor < chars.count, chars[cursor] == "}" else { return nil }
            cursor += 1
        }
        return String(chars[index..<cursor])
    }

    static func isValidVariableName(_ name: String) -> Bool {
        EnvAssignments.isValidName(Substring(name))
    }
}
