/// `git:` options besides `depth` (travis-build's defaults: clone, submodules on; quiet, LFS smudge skip,
/// sparse checkout off).
public struct GitOptions: Sendable, Codable, Hashable {
    /// `clone: false`: no checkout at all; the job starts in an empty directory.
    public var clone = true
    /// `git submodule update --init --recursive` after checkout when the repository has `.gitmodules`.
    public var submodules = true
    public var submodulesDepth: Int?
    /// `--quiet` on clone, fetch and submodule commands.
    public var quiet = false
    /// `GIT_LFS_SKIP_SMUDGE=1`: LFS files stay pointers.
    public var lfsSkipSmudge = false
    /// A file in the repository listing the paths to check out (`core.sparseCheckout`).
    public var sparseCheckout: String?

    public init() {}

    /// nil when `git:` gives only defaults (so most jobs carry nothing).
    init?(_ value: JSONValue?, warnings: inout WarningList) {
        guard case .object(let git)? = value else { return nil }
        var options = GitOptions()
        func flag(_ key: String) -> Bool? {
            guard let value = git[key], !value.isNull else { return nil }
            if let bool = value.boolValue { return bool }
            warnings.add("git.\(key) must be true or false, ignored")
            return nil
        }
        options.clone = flag("clone") ?? true
        options.submodules = flag("submodules") ?? true
        options.quiet = flag("quiet") ?? false
        options.lfsSkipSmudge = flag("lfs_skip_smudge") ?? false
        if let depth = git["submodules_depth"], !depth.isNull {
            if let number = depth.intValue, number > 0 { options.submodulesDepth = number } else {
                warnings.add("git.submodules_depth must be a positive number, ignored")
            }
        }
        if let sparse = git["sparse_checkout"], !sparse.isNull {
            if let path = sparse.scalarText, !path.isEmpty { options.sparseCheckout = path } else {
                warnings.add("git.sparse_checkout must be a file path, ignored")
            }
        }
        for key in git.keys.sorted() where !["depth", "clone", "submodules", "submodules_depth", "quiet",
                                              "lfs_skip_smudge", "sparse_checkout", "strategy", "autocrlf", "symlinks"].contains(key) {
            warnings.add("unknown key git.\(key) ignored")
        }
        if options == GitOptions() { return nil }
        self = options
    }
}
