import ConveyorCore
import Foundation

/// Fetches a repository's build config at an exact commit with `git` as a subprocess: from any
/// remote this node can reach (local paths and `file://` in tests). `.conveyor.yml` first, then
/// `.travis.yml`. A bare cache repository per remote keeps repeated fetches cheap.
public struct ConfigFetcher: Sendable {
    public static let fileNames = [".conveyor.yml", ".travis.yml"]
    let cacheDirectory: String
    let timeout: Duration
    private let cache = ConfigCache()

    public init(cacheDirectory: String, timeout: Duration = .seconds(60)) {
        self.cacheDirectory = cacheDirectory
        self.timeout = timeout
    }

    public struct Fetched: Sendable {
        public var fileName: String
        public var bytes: [UInt8]
    }

    public struct FetchError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Returns nil when the commit has neither file.
    public func fetch(url: String, sha: String, branch: String?) async throws -> Fetched? {
        guard sha.range(of: "^[0-9a-fA-F]{7,64}$", options: .regularExpression) != nil else {
            throw FetchError(description: "sha '\(sha)' is not a commit id")
        }
        if let cached = cache.lookup(url: url, sha: sha) { return cached }
        let fetched = try await fetchWithGit(url: url, sha: sha, branch: branch)
        cache.store(fetched, url: url, sha: sha)
        return fetched
    }

    private func fetchWithGit(url: String, sha: String, branch: String?) async throws -> Fetched? {
        let repo = cacheDirectory + "/" + Self.cacheName(url)
        try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        if !FileManager.default.fileExists(atPath: repo + "/HEAD") {
            // Made aside and moved into place: requests for one remote are handled concurrently.
            let fresh = repo + ".init-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
            let r = try await git(["init", "--bare", "-q", fresh])
            if r.status != 0 { throw FetchError(description: "git init failed: \(r.errorOutput)") }
            if (try? FileManager.default.moveItem(atPath: fresh, toPath: repo)) == nil {
                try? FileManager.default.removeItem(atPath: fresh)
            }
        }
        if try await !hasCommit(repo: repo, sha: sha) {
            // Fetch the commit itself (protocol v2 allows any reachable sha); fall back to the branch.
            var r = try await git(["--git-dir", repo, "fetch", "-q", "--no-tags", "--depth=50", "--", url, sha])
            if r.status != 0, let branch, !branch.isEmpty {
                r = try await git(["--git-dir", repo, "fetch", "-q", "--no-tags", "--", url, "refs/heads/\(branch)"])
            }
            if r.timedOut { throw FetchError(description: "git fetch from \(url) timed out after \(timeout)") }
            if try await !hasCommit(repo: repo, sha: sha) {
                let reason = r.errorOutput.trimmingCharacters(in: .whitespacesAndNewlines)
                throw FetchError(description: "commit \(sha) not found at \(url)\(reason.isEmpty ? "" : ": \(reason)")")
            }
        }
        for name in Self.fileNames {
            let r = try await git(["--git-dir", repo, "show", "\(sha):\(name)"])
            if r.status == 0 { return Fetched(fileName: name, bytes: r.output) }
        }
        return nil
    }

    private func hasCommit(repo: String, sha: String) async throws -> Bool {
        try await git(["--git-dir", repo, "cat-file", "-e", "\(sha)^{commit}"]).status == 0
    }

    private func git(_ args: [String]) async throws -> Subprocess.Result {
        try await Subprocess.run(["git", "-c", "protocol.file.allow=always"] + args,
                                 environment: ["GIT_TERMINAL_PROMPT": "0", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
                                               "HOME": ProcessInfo.processInfo.environment["HOME"] ?? "/tmp"],
                                 timeout: timeout, maxOutputBytes: 16 << 20)
    }

    static func cacheName(_ url: String) -> String {
        // A readable, collision-resistant folder name: the sanitized url plus a short FNV-1a hash.
        var hash: UInt64 = 0xcbf29ce484222325
        for b in url.utf8 { hash = (hash ^ UInt64(b)) &* 0x100000001b3 }
        let safe = url.map { $0.isLetter || $0.isNumber ? $0 : "_" }.suffix(40)
        return String(safe) + "-" + String(hash, radix: 16) + ".git"
    }
}
