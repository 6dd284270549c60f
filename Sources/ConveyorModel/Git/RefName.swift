/// Git ref names: branch names checked by the rules of `git check-ref-format --branch`, and the
/// short name of a pushed ref (docs/api.md#branch-names).
public enum RefName {
    /// Longest branch name accepted, in bytes (git has no limit; file systems and URLs do).
    public static let maxBytes = 255

    /// Why `name` is not a valid branch name, or nil when it is. Each message names the rule.
    public static func branchProblem(_ name: String) -> String? {
        let bytes = Array(name.utf8)
        if bytes.isEmpty { return "a branch name must not be empty" }
        if bytes.count > maxBytes { return "a branch name must be at most \(maxBytes) bytes" }
        if name == "@" { return "a branch name must not be '@' (git check-ref-format rule 9)" }
        if bytes[0] == UInt8(ascii: "-") { return "a branch name must not start with '-'" }
        for byte in bytes {
            if byte < 0x20 || byte == 0x7F { return "a branch name must not contain control characters (git check-ref-format rule 4)" }
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "~"), UInt8(ascii: "^"), UInt8(ascii: ":"):
                return "a branch name must not contain '\(Character(UnicodeScalar(byte)))' (git check-ref-format rule 4)"
            case UInt8(ascii: "?"), UInt8(ascii: "*"), UInt8(ascii: "["):
                return "a branch name must not contain '\(Character(UnicodeScalar(byte)))' (git check-ref-format rule 5)"
            case UInt8(ascii: "\\"):
                return "a branch name must not contain '\\' (git check-ref-format rule 10)"
            default: continue
            }
        }
        if name.contains("..") { return "a branch name must not contain '..' (git check-ref-format rule 3)" }
        if name.contains("@{") { return "a branch name must not contain '@{' (git check-ref-format rule 8)" }
        if name.hasPrefix("/") || name.hasSuffix("/") || name.contains("//") {
            return "a branch name must not start or end with '/' or contain '//' (git check-ref-format rule 6)"
        }
        if name.hasSuffix(".") { return "a branch name must not end with '.' (git check-ref-format rule 7)" }
        for component in name.split(separator: "/") {
            if component.hasPrefix(".") { return "no part of a branch name may start with '.' (git check-ref-format rule 1)" }
            if component.hasSuffix(".lock") { return "no part of a branch name may end with '.lock' (git check-ref-format rule 1)" }
        }
        return nil
    }

    /// A pushed ref's kind and short name: `refs/heads/x` is branch `x`, `refs/tags/v1` tag `v1`
    /// (only the leading prefix is removed: `refs/heads/refs/heads/main` is branch `refs/heads/main`).
    /// Other refs (notes, pull heads…) are nil.
    public static func parse(pushed ref: String) -> (name: String, isTag: Bool)? {
        for (prefix, isTag) in [("refs/heads/", false), ("refs/tags/", true)] where ref.hasPrefix(prefix) {
            let name = String(ref.dropFirst(prefix.count))
            return name.isEmpty ? nil : (name, isTag)
        }
        return nil
    }

    /// A commit id: 40 (SHA-1) or 64 (SHA-256) hex digits, or an abbreviation of at least 7.
    public static func isCommitID(_ text: String, allowAbbreviated: Bool = true) -> Bool {
        let count = text.utf8.count
        guard allowAbbreviated ? (7...64).contains(count) : (count == 40 || count == 64) else { return false }
        return text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) || (0x41...0x46).contains($0) }
    }
}
