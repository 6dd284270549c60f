/// The vocabulary of the config: which keys exist, which expand the matrix, and language defaults.
enum ConfigKeys {
    static let defaultLanguage = "ruby"
    static let defaultOS = "linux"
    static let defaultGitDepth = 50
    static let defaultStage = "test"
    /// travis-yml's default `dist` for linux jobs that give none.
    static let defaultLinuxDist = "xenial"
    /// Languages whose jobs run on osx unless `os:` says otherwise.
    static let osxLanguages: Set<String> = ["objective-c", "swift"]

    /// Keys that only mean something on some operating systems: a job on another os drops them, so a
    /// matrix over them doesn't multiply that os's jobs (travis-yml: `arch` on osx, `osx_image` on linux).
    static let osKeys: [String: Set<String>] = [
        "arch": ["linux", "freebsd"], "dist": ["linux"], "osx_image": ["osx"],
    ]

    static func defaultOS(language: String) -> String {
        osxLanguages.contains(language) ? "osx" : defaultOS
    }

    static func applies(_ key: String, toOS os: String) -> Bool {
        osKeys[key]?.contains(os) ?? true
    }

    /// Keys that expand the build matrix, in the order the product nests them (first varies slowest).
    /// `env.jobs` is the last dimension.
    static let expansionKeys: [String] = [
        "os", "arch", "dist", "rvm", "gemfile", "jdk", "node_js", "python", "php", "go", "scala", "perl",
        "julia", "dart", "rust", "elixir", "otp_release", "ghc", "r", "crystal", "smalltalk", "d", "haxe",
        "nix", "dotnet", "mono", "compiler", "xcode_sdk", "xcode_scheme", "xcode_project", "xcode_workspace",
        "osx_image", "solution", "node", "bioconductor", "hhvm", "neko", "lein", "cabal",
    ]

    /// Languages a version key applies to; keys not listed apply to every language.
    /// A key given for another language is ignored with a warning, as travis-yml does.
    static let keyLanguages: [String: Set<String>] = [
        "rvm": ["ruby", "objective-c"], "gemfile": ["ruby", "objective-c"],
        "jdk": ["java", "scala", "groovy", "clojure", "android", "kotlin", "ruby"],
        "node_js": ["node_js"], "python": ["python"], "php": ["php"], "go": ["go"], "scala": ["scala"],
        "perl": ["perl"], "julia": ["julia"], "dart": ["dart"], "rust": ["rust"], "elixir": ["elixir"],
        "otp_release": ["elixir", "erlang"], "ghc": ["haskell"], "r": ["r"], "crystal": ["crystal"],
        "smalltalk": ["smalltalk"], "d": ["d"], "haxe": ["haxe"], "nix": ["nix"],
        "dotnet": ["csharp"], "mono": ["csharp"], "solution": ["csharp"],
        "xcode_sdk": ["objective-c", "swift"], "xcode_scheme": ["objective-c", "swift"],
        "xcode_project": ["objective-c", "swift"], "xcode_workspace": ["objective-c", "swift"],
        "bioconductor": ["r"], "hhvm": ["php"], "neko": ["haxe"], "lein": ["clojure"], "cabal": ["haskell"],
        "compiler": ["c", "cpp", "objective-c", "swift"],
    ]

    static func applies(_ key: String, toLanguage language: String) -> Bool {
        keyLanguages[key]?.contains(language) ?? true
    }

    /// `script` when the config gives none. Languages not listed run no default script.
    static let defaultScripts: [String: [String]] = [
        "ruby": ["rake"],
        "node_js": ["npm test"],
        "python": ["pytest"],
        "go": ["go test -v ./..."],
        "rust": ["cargo build --verbose", "cargo test --verbose"],
        "php": ["phpunit"],
        "c": ["./configure && make && make test"],
        "cpp": ["./configure && make && make test"],
        "elixir": ["mix test"],
        "crystal": ["crystal spec"],
        "java": ["mvn test -B"],
        "haskell": ["cabal test"],
        "perl": ["prove -lr t"],
    ]

    /// Top-level keys that are understood (or knowingly passed through); anything else warns.
    static let knownTopLevelKeys: Set<String> = Set(expansionKeys).union([
        "language", "env", "jobs", "matrix", "stages", "if", "branches", "services", "git", "before_install",
        "install", "before_script", "script", "after_success", "after_failure", "after_script",
        "before_deploy", "deploy", "after_deploy", "before_cache", "cache", "addons", "notifications",
        "sudo", "group", "version", "import", "name", "filter_secrets", "trace", "virt", "conditions",
        "podfile", "android", "oracle", "apt", "source_key",
    ])

    /// Keys an include / allow_failures / exclude entry may carry besides the top-level ones.
    static let jobOnlyKeys: Set<String> = ["stage", "name", "allow_failure"]
}

/// The config's matrix keys, for tools that show jobs (`conveyor config expand --format text`).
public enum ConfigKeyNames {
    public static var expansion: [String] { ConfigKeys.expansionKeys }
}
