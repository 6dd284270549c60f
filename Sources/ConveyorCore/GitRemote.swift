/// Asks a git remote what a branch points at, through `git ls-remote`.
public enum GitRemote {
    public struct BranchNotFound: Error, CustomStringConvertible {
        public var description: String
    }

    public static func head(url: String, branch: String) async throws -> String {
        let result = try await Subprocess.run(["git", "-c", "protocol.file.allow=always", "ls-remote", "--", url, "refs/heads/\(branch)"], timeout: .seconds(30))
        let line = String(decoding: result.output, as: UTF8.self).split(separator: "\n").first ?? ""
        guard result.status == 0, let sha = line.split(separator: "\t").first, !sha.isEmpty else {
            throw BranchNotFound(description: "branch \(branch) not found at \(url)")
        }
        return String(sha)
    }
}
