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

    static func isValidName(_ name: Substring) -> Bool {
        guard let first = name.first, first == "_" || (first.isASCII && first.isLetter) else { return false }
        return name.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLetter || $0.isNumber)) }
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
