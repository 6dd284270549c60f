/// Splits env strings such as `A=1 B="two words" C='$literal'` into variables, shell-style:
/// quotes group words and are removed; single quotes (or a backslash) make the text literal.
enum EnvAssignments {
    struct Parsed: Equatable {
        var vars: [EnvVar] = []
        /// Words that are not `NAME=value`.
        var invalid: [String] = []
    }

    static func parse(_ text: String) -> Parsed {
        var parsed = Parsed()
        for word in words(text) {
            guard let equals = word.text.firstIndex(of: "="), isValidName(word.text[..<equals]) else {
                parsed.invalid.append(word.text)
                continue
            }
            let name = String(word.text[..<equals])
            let value = String(word.text[word.text.index(after: equals)...])
            parsed.vars.append(EnvVar(name: name, value: value, secure: false, expandsVariables: !word.literal))
        }
        return parsed
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`, checked on the UTF-8 bytes: the same answer as the check on
    /// `Character`s (an ASCII letter, digit or `_` is one byte, anything else has a byte outside
    /// these), without grapheme breaking and Unicode property lookups, which made this check, run for
    /// every built-in variable of every job, a sixth of a worker's CPU in the dispatch benchmark.
    static func isValidName(_ name: Substring) -> Bool {
        var bytes = name.utf8.makeIterator()
        guard let first = bytes.next(), first == UInt8(ascii: "_") || isASCIILetter(first) else { return false }
        while let byte = bytes.next() {
            guard byte == UInt8(ascii: "_") || isASCIILetter(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return false }
        }
        return true
    }

    private static func isASCIILetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    private struct Word {
        var text = ""
        /// Some of it was single-quoted or escaped, so `$` must not expand.
        var literal = false
    }

    private static func words(_ text: String) -> [Word] {
        var result: [Word] = []
        var current = Word()
        var inWord = false
        var quote: Character?
        var iterator = text.makeIterator()
        while let char = iterator.next() {
            if let open = quote {
                if char == open {
                    quote = nil
                } else if char == "\\", open == "\"", let next = iterator.next() {
                    if next != "\"" && next != "\\" { current.text.append("\\") }
                    current.text.append(next)
                } else {
                    current.text.append(char)
                }
            } else if char.isWhitespace {
                if inWord { result.append(current) }
                current = Word()
                inWord = false
            } else if char == "'" || char == "\"" {
                quote = char
                inWord = true
                if char == "'" { current.literal = true }
            } else if char == "\\", let next = iterator.next() {
                current.text.append(next)
                current.literal = current.literal || next == "$"
                inWord = true
            } else {
                current.text.append(char)
                inWord = true
            }
        }
        if inWord { result.append(current) }
        return result
    }
}
