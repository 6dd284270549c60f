/// Rewrites a Ruby (Onigmo) regular expression into PCRE2 syntax where the two differ
/// (docs/config.md, "Regular expressions"):
/// - `\h` / `\H` are hex digits in Ruby, horizontal space in PCRE2 → `[[:xdigit:]]` / `[[:^xdigit:]]`;
/// - `\uHHHH` and `\u{H…}` → `\x{H…}`;
/// - inline `(?m)` is Ruby's dot-matches-newline, PCRE2's `(?s)` (Ruby's `^`/`$` always match at
///   line breaks, which PCRE2 gets as a compile option);
/// - nested classes and `&&` intersections have no PCRE2 form: refused with their position.
/// `\A`, `\z`, `\Z`, `(?<name>…)`, `\k<name>`, `\g<name>`, POSIX brackets are the same in both.
/// Each byte of the result remembers the character of the source it came from, so PCRE2's error
/// offsets point into what the user wrote.
struct RubyRegexTranslation {
    private(set) var pcre: [UInt8] = []
    /// For each byte of `pcre`, the (0-based) character of the source it came from.
    private(set) var origins: [Int] = []

    init(_ source: String) throws(ConfigError) {
        let chars = Array(source.unicodeScalars)
        var index = 0
        var inClass = false
        var classStart = 0
        while index < chars.count {
            let char = chars[index]
            switch char {
            case "\\":
                guard index + 1 < chars.count else {
                    throw Self.error("a trailing backslash", at: index, in: source)
                }
                index = try escape(chars, at: index, inClass: inClass, source: source)
                continue
            case "[" where inClass:
                if index + 1 < chars.count, chars[index + 1] == ":" {
                    // A POSIX bracket such as [:alpha:], copied whole.
                    var end = index + 2
                    while end + 1 < chars.count, !(chars[end] == ":" && chars[end + 1] == "]") { end += 1 }
                    guard end + 1 < chars.count else { throw Self.error("an unterminated [: :] class", at: index, in: source) }
                    emit(String(String.UnicodeScalarView(chars[index...(end + 1)])), from: index)
                    index = end + 2
                    continue
                }
                throw Self.error("a nested character class (not supported)", at: index, in: source)
            case "[":
                inClass = true
                classStart = index
                emit("[", from: index)
                index += 1
                // A `]` (after an optional `^`) right at the start is a literal in both dialects.
                if index < chars.count, chars[index] == "^" { emit("^", from: index); index += 1 }
                if index < chars.count, chars[index] == "]" { emit("]", from: index); index += 1 }
                continue
            case "]" where inClass:
                inClass = false
            case "&" where inClass && index + 1 < chars.count && chars[index + 1] == "&":
                throw Self.error("a character class intersection && (not supported)", at: index, in: source)
            case "(" where !inClass && index + 2 < chars.count && chars[index + 1] == "?":
                index = inlineOptions(chars, at: index)
                continue
            default:
                break
            }
            emit(String(char), from: index)
            index += 1
        }
        if inClass { throw Self.error("an unterminated character class", at: classStart, in: source) }
    }

    /// The escape at `index` (a backslash); returns the index after it.
    private mutating func escape(_ chars: [Unicode.Scalar], at index: Int, inClass: Bool, source: String) throws(ConfigError) -> Int {
        let next = chars[index + 1]
        switch next {
        case "h":
            emit(inClass ? "[:xdigit:]" : "[[:xdigit:]]", from: index)
            return index + 2
        case "H":
            emit(inClass ? "[:^xdigit:]" : "[[:^xdigit:]]", from: index)
            return index + 2
        case "u":
            var cursor = index + 2
            if cursor < chars.count, chars[cursor] == "{" {
                cursor += 1
                var codes: [String] = [""]
                while cursor < chars.count, chars[cursor] != "}" {
                    if chars[cursor] == " " {
                        if !codes[codes.count - 1].isEmpty { codes.append("") }
                    } else if chars[cursor].properties.isASCIIHexDigit {
                        codes[codes.count - 1].unicodeScalars.append(chars[cursor])
                    } else {
                        throw Self.error("an invalid \\u{…} escape", at: index, in: source)
                    }
                    cursor += 1
                }
                codes.removeAll { $0.isEmpty }
                guard cursor < chars.count, !codes.isEmpty else { throw Self.error("an invalid \\u{…} escape", at: index, in: source) }
                emit(codes.map { "\\x{\($0)}" }.joined(), from: index)
                return cursor + 1
            }
            let digits = chars[cursor..<min(chars.count, cursor + 4)]
            guard digits.count == 4, digits.allSatisfy(\.properties.isASCIIHexDigit) else {
                throw Self.error("an invalid \\u escape (four hex digits expected)", at: index, in: source)
            }
            emit("\\x{" + String(String.UnicodeScalarView(digits)) + "}", from: index)
            return cursor + 4
        default:
            emit("\\" + String(next), from: index)
            return index + 2
        }
    }

    /// `(?imx-imx)` or `(?imx-imx:` with Ruby's `m` written as PCRE2's `s`; other groups unchanged.
    private mutating func inlineOptions(_ chars: [Unicode.Scalar], at index: Int) -> Int {
        var cursor = index + 2
        while cursor < chars.count, "imx-".unicodeScalars.contains(chars[cursor]) { cursor += 1 }
        guard cursor > index + 2, cursor < chars.count, chars[cursor] == ")" || chars[cursor] == ":" else {
            emit("(", from: index)
            return index + 1
        }
        let options = chars[(index + 2)..<cursor].map { $0 == "m" ? "s" : String($0) }.joined()
        emit("(?" + options + String(chars[cursor]), from: index)
        return cursor + 1
    }

    private mutating func emit(_ text: String, from origin: Int) {
        pcre += Array(text.utf8)
        origins += Array(repeating: origin, count: text.utf8.count)
    }

    /// The source character (1-based) that PCRE2's byte offset into `pcre` comes from.
    func sourcePosition(ofByte offset: Int) -> Int {
        guard !origins.isEmpty else { return 1 }
        return origins[min(max(0, offset), origins.count - 1)] + 1
    }

    private static func error(_ what: String, at index: Int, in source: String) -> ConfigError {
        ConfigError("invalid regular expression /\(source)/: \(what) at character \(index + 1)")
    }
}
