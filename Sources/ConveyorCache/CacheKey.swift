import ConveyorModel
import Crypto

/// Names of a job's cache (docs/cache.md#keys): the slug tells jobs of a build apart, the storage key
/// places an archive of a repository's branch in a store.
public enum CacheKey {
    /// `cache-<os>-<dist>-<sha256 of the job's signature>--<language>`, as travis-build's casher names them.
    public static func slug(job: JobSpec) -> String {
        let digest = SHA256.hash(data: Array(CacheSpec.signature(of: job).utf8)).map { String(format: "%02x", $0) }.joined()
        return "cache-\(safe(job.os))-\(safe(job.dist ?? "none"))-\(digest)--\(safe(job.language)).tgz"
    }

    /// `<repository id>/<branch, percent-encoded>/<slug>`: every part one safe path component.
    public static func storageKey(repository: Int64, branch: String, slug: String) -> String {
        "\(repository)/\(pathComponent(branch))/\(safe(slug))"
    }

    /// Where a pull request's own cache goes (Travis names its branch so).
    public static func pullRequestBranch(_ number: Int) -> String { "PR.\(number)" }

    /// The branches whose caches a job may start from, first found wins: its own, a pull request's base
    /// branch, then the repository's default branch (docs.travis-ci.com/user/caching).
    public static func fetchOrder(storeBranch: String, baseBranch: String, defaultBranch: String?) -> [String] {
        var order: [String] = []
        for branch in [storeBranch, baseBranch] + (defaultBranch.map { [$0] } ?? ["main", "master"]) where !branch.isEmpty && !order.contains(branch) {
            order.append(branch)
        }
        return order
    }

    /// Letters, digits, `-`, `_` and `.` kept; anything else `%XX`, so `/`, `..` or a NUL never reach a path.
    public static func pathComponent(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if byte < 0x80 && (c.isLetter || c.isNumber || c == "-" || c == "_") {
                out.append(c)
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out.isEmpty ? "%00" : out
    }

    private static func safe(_ text: String) -> String {
        let kept = String(text.map { $0.isLetter || $0.isNumber || "-_.".contains($0) ? $0 : "_" })
        return kept.hasPrefix(".") ? "_" + kept.dropFirst() : kept
    }
}
