/// Recursive-descent parser for travis-conditions:
///
///     expr    := and (("OR" | "||") and)*
///     and     := unary (("AND" | "&&") unary)*
///     unary   := ("NOT" | "!") unary | "(" expr ")" | test
///     test    := term ( ("=" | "==" | "!=") term | ("=~" | "!~") regex
///                     | ["NOT"] "IN" "(" term ("," term)* ")" | "IS" ["NOT"] ("present" | "blank") )?
///     term    := variable | "env(" NAME ")" | 'quoted' | "quoted" | bare-word
///
/// Keywords are case-insensitive. Nesting is bounded so hostile input can't exhaust the stack.
struct ConditionParser {
    private let source: String
    private let chars: [Character]
    private var position = 0
    private var depth = 0
    private static let maxDepth = 64

    init(_ source: String) {
        self.source = source
        self.chars = Array(source)
    }

    mutating func parseAll() throws(ConfigError) -> ConditionExpr {
        skipSpace()
        if position == chars.count { throw error("condition is empty") }
        let expr = try parseOr()
        skipSpace()
        if position < chars.count { throw error("unexpected '\(String(chars[position...].prefix(20)))'") }
        return expr
    }

    private mutating func parseOr() throws(ConfigError) -> ConditionExpr {
        var left = try parseAnd()
        while acceptKeyword("OR") || acceptSymbol("||") {
            left = .or(left, try parseAnd())
        }
        return left
    }

    private mutating func parseAnd() throws(ConfigError) -> ConditionExpr {
        var left = try parseUnary()
        while acceptKeyword("AND") || acceptSymbol("&&") {
            left = .and(left, try parseUnary())
        }
        return left
    }

    private mutating func parseUnary() throws(ConfigError) -> ConditionExpr {
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maxDepth { throw error("condition nests too deeply") }
        if acceptKeyword("NOT") || (peekSymbol("!") && !peekSymbol("!=") && !peekSymbol("!~") && acceptSymbol("!")) {
            return .not(try parseUnary())
        }
        if acceptSymbol("(") {
            let inner = try parseOr()
            guard acceptSymbol(")") else { throw error("expected ')'") }
            return inner
        }
        return try parseTest()
    }

    private mutating func parseTest() throws(ConfigError) -> ConditionExpr {
        let term = try parseTerm(allowVariables: true)
        if acceptSymbol("=~") { return .compare(term, .matches, try parseRegex()) }
        if acceptSymbol("!~") { return .compare(term, .notMatches, try parseRegex()) }
        if acceptSymbol("!=") { return .compare(term, .notEqual, try parseTerm(allowVariables: true)) }
        if acceptSymbol("==") || acceptSymbol("=") { return .compare(term, .equal, try parseTerm(allowVariables: true)) }
        if acceptKeyword("IN") { return .oneOf(term, try parseList(), negated: false) }
        let beforeNot = position
        if acceptKeyword("NOT") {
            if acceptKeyword("IN") { return .oneOf(term, try parseList(), negated: true) }
            position = beforeNot
        }
        if acceptKeyword("IS") {
            let negated = acceptKeyword("NOT")
            if acceptKeyword("present") { return .present(term, negated: negated) }
            if acceptKeyword("blank") { return .blank(term, negated: negated) }
            throw error("expected 'present' or 'blank' after IS")
        }
        return .truthy(term)
    }

    private mutating func parseList() throws(ConfigError) -> [ConditionTerm] {
        guard acceptSymbol("(") else { throw error("expected '(' after IN") }
        var items = [try parseTerm(allowVariables: false)]
        while acceptSymbol(",") { items.append(try parseTerm(allowVariables: false)) }
        guard acceptSymbol(")") else { throw error("expected ')' to close the IN list") }
        return items
    }

    private mutating func parseTerm(allowVariables: Bool) throws(ConfigError) -> ConditionTerm {
        skipSpace()
        guard position < chars.count else { throw error("expected a value") }
        if chars[position] == "'" || chars[position] == "\"" { return .literal(try readQuoted()) }
        let word = readWord()
        if word.isEmpty { throw error("expected a value") }
        let lowered = word.lowercased()
        if lowered == "env", acceptSymbol("(") {
            let name = readWord()
            guard !name.isEmpty, acceptSymbol(")") else { throw error("expected env(NAME)") }
            return .env(name)
        }
        if allowVariables, ConditionVariables.allNames.contains(lowered) { return .variable(lowered) }
        if Self.keywords.contains(lowered.uppercased()) { throw error("unexpected keyword '\(word)'") }
        return .literal(word)
    }

    /// `/…/` (with `\/` for a slash), a quoted string, or a bare word whose parentheses balance.
    private mutating func parseRegex() throws(ConfigError) -> ConditionTerm {
        skipSpace()
        guard position < chars.count else { throw error("expected a regular expression") }
        let pattern: String
        if chars[position] == "/" {
            position += 1
            var text = ""
            while position < chars.count, chars[position] != "/" {
                if chars[position] == "\\", position + 1 < chars.count, chars[position + 1] == "/" { position += 1 }
                text.append(chars[position])
                position += 1
            }
            guard position < chars.count else { throw error("unterminated /regex/") }
            position += 1
            // Ruby's flags after the closing slash, carried as an inline group (same meaning).
            var flags = ""
            while position < chars.count, "imx".contains(chars[position]) {
                flags.append(chars[position])
                position += 1
            }
            guard !text.isEmpty else { throw error("expected a regular expression") }
            do {
                try RegexMatch.validate(text, flags: flags)
            } catch {
                throw self.error(error.message)
            }
            return .regex(flags.isEmpty ? text : "(?\(flags))" + text)
        } else if chars[position] == "'" || chars[position] == "\"" {
            pattern = try readQuoted()
        } else {
            var text = ""
            var parens = 0
            while position < chars.count, !chars[position].isWhitespace {
                if chars[position] == "(" { parens += 1 }
                if chars[position] == ")" { if parens == 0 { break }; parens -= 1 }
                text.append(chars[position])
                position += 1
            }
            pattern = text
        }
        guard !pattern.isEmpty else { throw error("expected a regular expression") }
        do {
            try RegexMatch.validate(pattern)
        } catch {
            throw self.error(error.message)
        }
        return .regex(pattern)
    }

    private mutating func readQuoted() throws(ConfigError) -> String {
        let quote = chars[position]
        position += 1
        var text = ""
        while position < chars.count, chars[position] != quote {
            if chars[position] == "\\", position + 1 < chars.count { position += 1 }
            text.append(chars[position])
            position += 1
        }
        guard position < chars.count else { throw error("unterminated string") }
        position += 1
        return text
    }

    private mutating func readWord() -> String {
        skipSpace()
        var text = ""
        while position < chars.count, !chars[position].isWhitespace, !"(),=!'\"".contains(chars[position]) {
            text.append(chars[position])
            position += 1
        }
        return text
    }

    private static let keywords: Set<String> = ["AND", "OR", "NOT", "IN", "IS"]

    private mutating func acceptKeyword(_ keyword: String) -> Bool {
        skipSpace()
        let end = position + keyword.count
        guard end <= chars.count, String(chars[position..<end]).uppercased() == keyword.uppercased() else { return false }
        if end < chars.count, chars[end].isLetter || chars[end].isNumber || chars[end] == "_" { return false }
        position = end
        return true
    }

    private mutating func peekSymbol(_ symbol: String) -> Bool {
        skipSpace()
        let end = position + symbol.count
        return end <= chars.count && String(chars[position..<end]) == symbol
    }

    private mutating func acceptSymbol(_ symbol: String) -> Bool {
        guard peekSymbol(symbol) else { return false }
        position += symbol.count
        return true
    }

    private mutating func skipSpace() {
        while position < chars.count, chars[position].isWhitespace { position += 1 }
    }

    private func error(_ problem: String) -> ConfigError {
        ConfigError("invalid condition \"\(source)\": \(problem) at position \(position + 1)")
    }
}
