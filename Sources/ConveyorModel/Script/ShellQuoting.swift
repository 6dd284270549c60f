/// Quoting for values spliced into bash (generated scripts, SSH command lines): the one
/// implementation, working on UTF-8 bytes, never on `Character`s (a `'` followed by a combining mark is
/// one `Character`, but bash sees a bare quote byte). See docs/security.md ("Shell quoting").
///
/// A NUL byte cannot be part of a bash word (arguments and variables are C strings): such a value is
/// refused with `ShellQuotingError`, never truncated or altered.
public enum ShellQuoting {
    /// `'…'` with each `'` byte written as `'\''`: bash reads back exactly `bytes`.
    public static func singleQuoted(bytes: some Sequence<UInt8>) throws(ShellQuotingError) -> [UInt8] {
        var result: [UInt8] = [quote]
        for byte in bytes {
            switch byte {
            case 0: throw ShellQuotingError()
            case quote: result += [quote, backslash, quote, quote]
            default: result.append(byte)
            }
        }
        result.append(quote)
        return result
    }

    /// `singleQuoted(bytes:)` for text (the result is valid UTF-8: only ASCII bytes are added).
    public static func singleQuoted(_ text: String) throws(ShellQuotingError) -> String {
        String(decoding: try singleQuoted(bytes: text.utf8), as: UTF8.self)
    }

    /// `"…"` in which only `$NAME` and `${NAME}` expand (as Travis env values do); backquotes, `$(`,
    /// other `$` forms, `"` and `\` are escaped, so no command can run from the value.
    static func doubleQuotedExpandingVariables(_ text: String) throws(ShellQuotingError) -> String {
        let bytes = Array(text.utf8)
        var result: [UInt8] = [doubleQuote]
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case 0:
                throw ShellQuotingError()
            case backslash, doubleQuote, backquote:
                result += [backslash, byte]
            case dollar:
                if let end = variableReferenceEnd(bytes, at: index) {
                    result += bytes[index..<end]
                    index = end
                    continue
                }
                result += [backslash, dollar]
            default:
                result.append(byte)
            }
            index += 1
        }
        result.append(doubleQuote)
        return String(decoding: result, as: UTF8.self)
    }

    /// The end of `$NAME` or `${NAME}` starting at `index`, if that is what's there (ASCII names).
    private static func variableReferenceEnd(_ bytes: [UInt8], at index: Int) -> Int? {
        var cursor = index + 1
        let braced = cursor < bytes.count && bytes[cursor] == UInt8(ascii: "{")
        if braced { cursor += 1 }
        let nameStart = cursor
        while cursor < bytes.count, isNameByte(bytes[cursor], first: cursor == nameStart) { cursor += 1 }
        guard cursor > nameStart else { return nil }
        if braced {
            guard cursor < bytes.count, bytes[cursor] == UInt8(ascii: "}") else { return nil }
            cursor += 1
        }
        return cursor
    }

    private static func isNameByte(_ byte: UInt8, first: Bool) -> Bool {
        switch byte {
        case UInt8(ascii: "_"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): return true
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return !first
        default: return false
        }
    }

    static func isValidVariableName(_ name: String) -> Bool {
        EnvAssignments.isValidName(Substring(name))
    }

    private static let quote = UInt8(ascii: "'")
    private static let doubleQuote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")
    private static let backquote = UInt8(ascii: "`")
    private static let dollar = UInt8(ascii: "$")
}

/// A value holds a NUL byte, which no bash word can carry.
public struct ShellQuotingError: Error, Sendable, CustomStringConvertible, Equatable {
    public init() {}
    public var description: String { "a value contains a NUL byte, which a shell command cannot carry" }
}
