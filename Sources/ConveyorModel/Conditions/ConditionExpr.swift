/// A parsed `if:` condition (travis-conditions language). Build it with `Condition.parse`.
public indirect enum ConditionExpr: Sendable, Hashable {
    case and(ConditionExpr, ConditionExpr)
    case or(ConditionExpr, ConditionExpr)
    case not(ConditionExpr)
    case compare(ConditionTerm, ConditionOperator, ConditionTerm)
    case oneOf(ConditionTerm, [ConditionTerm], negated: Bool)
    /// `IS present` (or, negated, `IS NOT present`).
    case present(ConditionTerm, negated: Bool)
    /// `IS blank` (or, negated, `IS NOT blank`).
    case blank(ConditionTerm, negated: Bool)
    /// A lone term used as a boolean: true when it has a value other than "" and "false".
    case truthy(ConditionTerm)
}

/// An operand of a condition.
public enum ConditionTerm: Sendable, Hashable {
    /// `branch`, `tag`, `type`, `repo`, … (see `ConditionVariables`)
    case variable(String)
    /// `env(NAME)`
    case env(String)
    /// A quoted string or a bare word.
    case literal(String)
    /// `/…/`, or the bare word right of `=~`.
    case regex(String)
}

public enum ConditionOperator: String, Sendable, Hashable {
    case equal = "="
    case notEqual = "!="
    case matches = "=~"
    case notMatches = "!~"
}

public enum Condition {
    /// Parses a condition; errors name the condition and where parsing stopped.
    public static func parse(_ source: String) throws(ConfigError) -> ConditionExpr {
        var parser = ConditionParser(source)
        return try parser.parseAll()
    }
}
