extension ConditionExpr {
    /// Evaluates against a request, a job's env (the repository settings' first, then global, then its
    /// own: later ones win) and the
    /// job's keys (`os`, `language`, `dist`, `arch`, …). Secure variables are not visible to `env()`.
    /// Throws when a regex match exceeds its limit (a pattern that backtracks too much).
    public func evaluate(context: BuildRequestContext, env: [EnvVar], jobKeys: [String: JSONValue] = [:]) throws(ConfigError) -> Bool {
        let scope = ConditionScope(context: context, env: context.settingsEnv + env, jobKeys: jobKeys)
        return try evaluate(in: scope)
    }

    private func evaluate(in scope: ConditionScope) throws(ConfigError) -> Bool {
        switch self {
        // Short-circuits as written (`&&` would wrap the right side in an untyped-throwing autoclosure).
        case let .and(left, right): return try left.evaluate(in: scope) ? try right.evaluate(in: scope) : false
        case let .or(left, right): return try left.evaluate(in: scope) ? true : try right.evaluate(in: scope)
        case let .not(inner): return try !inner.evaluate(in: scope)
        case let .compare(left, op, right):
            return try compare(scope.value(of: left), op, right, scope: scope)
        case let .oneOf(term, list, negated):
            let value = scope.value(of: term)
            let found = value != nil && list.contains { scope.value(of: $0) == value }
            return found != negated
        case let .present(term, negated):
            return !isBlank(scope.value(of: term)) != negated
        case let .blank(term, negated):
            return isBlank(scope.value(of: term)) != negated
        case let .truthy(term):
            guard let value = scope.value(of: term) else { return false }
            return !value.isEmpty && value.lowercased() != "false"
        }
    }

    private func compare(_ left: String?, _ op: ConditionOperator, _ right: ConditionTerm,
                         scope: ConditionScope) throws(ConfigError) -> Bool {
        switch op {
        case .equal: return left != nil && left == scope.value(of: right)
        case .notEqual: return left != scope.value(of: right)
        case .matches, .notMatches:
            let pattern: String? = if case .regex(let source) = right { source } else { scope.value(of: right) }
            guard let left, let pattern else { return op == .notMatches }
            let matched = try RegexMatch.matches(left, pattern: pattern)
            return op == .matches ? matched : !matched
        }
    }

    private func isBlank(_ value: String?) -> Bool {
        value?.allSatisfy(\.isWhitespace) ?? true
    }
}

private struct ConditionScope {
    let context: BuildRequestContext
    let env: [EnvVar]
    let jobKeys: [String: JSONValue]

    func value(of term: ConditionTerm) -> String? {
        switch term {
        case .literal(let text), .regex(let text): return text
        case .variable(let name): return ConditionVariables.value(of: name, context: context, jobKeys: jobKeys)
        case .env(let name): return env.last { $0.name == name && !$0.secure }?.value
        }
    }
}
