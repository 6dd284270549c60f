/// A job's `cache:` with `before_cache` (docs/cache.md): the directories kept between builds, how long
/// fetching or storing may take, and the commands run before storing. nil when the job caches nothing.
public struct CacheSpec: Sendable, Codable, Hashable {
    /// As written (after shortcuts were expanded): absolute, `$HOME/…`, or relative to the build directory.
    public var directories: [String]
    /// `cache: timeout:` in seconds, for fetching and for storing each.
    public var timeoutSeconds: Int
    public var beforeCache: [String]

    /// Travis's documented default (docs.travis-ci.com/user/caching: "5 minutes by default").
    public static let defaultTimeoutSeconds = 300

    /// travis-build's caching shortcuts and the directories each stands for.
    public static let shortcuts: [String: [String]] = [
        "bundler": ["vendor/bundle"],
        "pip": ["$HOME/.cache/pip"],
        "npm": ["node_modules", "$HOME/.npm"],
        "yarn": ["$HOME/.cache/yarn"],
        "cargo": ["$HOME/.cargo", "target"],
        "ccache": ["$HOME/.ccache"],
        "packages": ["$HOME/R/Library"],
        "cocoapods": ["Pods"],
    ]

    public init(directories: [String], timeoutSeconds: Int = defaultTimeoutSeconds, beforeCache: [String] = []) {
        self.directories = directories
        self.timeoutSeconds = timeoutSeconds
        self.beforeCache = beforeCache
    }

    /// `cache: false`, `cache: pip`, `cache: [bundler, pip]`, `cache: {directories: […], npm: true, timeout: 1000}`.
    /// nil when nothing is cached.
    static func parse(_ effective: [String: JSONValue], warnings: inout WarningList) -> CacheSpec? {
        guard let value = effective["cache"], !value.isNull, value.boolValue != false else { return nil }
        var directories: [String] = []
        var timeout = defaultTimeoutSeconds
        func shortcut(_ name: String) {
            guard let dirs = shortcuts[name.lowercased()] else {
                warnings.add("cache: unknown caching shortcut \(name); use cache: directories: for other directories")
                return
            }
            directories += dirs
        }
        for item in value.asList {
            switch item {
            case .object(let map):
                for (key, option) in map.sorted(by: { $0.key < $1.key }) {
                    switch key {
                    case "directories":
                        directories += option.asList.compactMap(\.scalarText).filter { !$0.isEmpty }
                    case "timeout":
                        if let seconds = option.intValue ?? option.scalarText.flatMap({ Int($0) }), seconds > 0 {
                            timeout = seconds
                        } else {
                            warnings.add("cache: timeout must be a positive number of seconds; using \(defaultTimeoutSeconds)")
                        }
                    case "edge", "branch":
                        break  // travis-build's casher options; meaningless here
                    default:
                        if option.boolValue == false || option.isNull { continue }
                        shortcut(key)
                    }
                }
            case let scalar where scalar.boolValue == true:
                continue
            default:
                if let name = item.scalarText { shortcut(name) }
            }
        }
        var seen = Set<String>()
        directories = directories.filter { seen.insert($0).inserted }
        guard !directories.isEmpty else { return nil }
        let beforeCache = (effective["before_cache"]?.asList ?? []).compactMap { $0.boolValue == true ? nil : $0.scalarText }.filter { !$0.isEmpty }
        return CacheSpec(directories: directories, timeoutSeconds: timeout, beforeCache: beforeCache)
    }

    /// What tells one job's cache from another's in a build (docs.travis-ci.com/user/caching "Caches and
    /// build matrices"): os, dist, osx_image, arch, language, the language version keys, and the env
    /// (secure values as `[secure]`, so the text never holds a secret). Hashed into the cache's slug.
    public static func signature(of job: JobSpec) -> String {
        var lines = ["os=\(job.os)", "dist=\(job.dist ?? "")", "arch=\(job.arch ?? "")", "language=\(job.language)"]
        for (key, value) in job.keys.sorted(by: { $0.key < $1.key }) where !["os", "dist", "arch", "language"].contains(key) {
            lines.append("\(key)=\(value.scalarText ?? "")")
        }
        lines += job.env.map { "env:\($0.displayText)" }
        return lines.joined(separator: "\n")
    }
}
