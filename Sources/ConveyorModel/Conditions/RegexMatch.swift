/// Unanchored regular-expression matching, as Ruby's `=~` (used by conditions and branch rules).
enum RegexMatch {
    static func isValid(_ pattern: String) -> Bool {
        (try? Regex(pattern)) != nil
    }

    /// An invalid pattern matches nothing.
    static func matches(_ value: String, pattern: String) -> Bool {
        guard let regex = try? Regex(pattern) else { return false }
        return (try? regex.firstMatch(in: value)) != nil
    }
}
