import Foundation

/// Compiles a job into the bash script a worker runs: checkout, env, then Travis's phases, with fold and
/// timing markers, and an exit code of 0 (passed), 1 (failed) or 2 (errored). See `ScriptPrelude`.
public enum ScriptCompiler {
    /// `secrets` are extra values (besides the job's secure env vars) never shown in echoed commands.
    /// `builtinEnv` is the job's `BuildEnvironment`, exported first and not shown. Throws when a value
    /// holds a NUL byte, which bash cannot carry (see `ShellQuoting`). `cache` is what the worker offers
    /// the job's `cache:`; nil when it keeps no caches (docs/cache.md).
    public static func compile(job: JobSpec, checkout: CheckoutSpec, secrets: [String] = [],
                               builtinEnv: [EnvVar] = [], cache: CacheOptions? = nil) throws(ShellQuotingError) -> String {
        var script = ScriptWriter(hiding: secrets + job.env.filter(\.secure).map(\.value))
        script.raw(ScriptPrelude.text)
        if job.cache != nil { script.raw("conveyor_job_dir=\"$(pwd -P)\"") }
        try script.exportBuiltins(builtinEnv)
        try script.checkout(checkout)
        try script.exportEnv(job.env)
        try CachePhase.setup(job.cache, options: cache, writer: &script)
        for phase in [Phase.beforeInstall, .install, .beforeScript] {
            try script.setupPhase(phase, commands: job.phases[phase] ?? [])
        }
        try script.scriptPhase(job.phases[.script] ?? [])
        try CachePhase.store(job.cache, options: cache, writer: &script)
        // after_success/after_failure, then the deploy step, then after_script, as on Travis.
        try script.afterPhases(job.phases.filter { $0.key != .afterScript })
        try DeployPhase.script(job.deploy, writer: &script)
        try script.afterPhases(job.phases.filter { $0.key == .afterScript })
        script.raw("""

            echo
            echo "Done. Your build exited with $conveyor_result."
            exit $conveyor_result

            """)
        return script.text
    }
}

/// Accumulates the script text. Every value from outside (URLs, shas, env values) is quoted here.
struct ScriptWriter {
    private(set) var text = ""
    private let hidden: [String]

    init(hiding secrets: [String]) {
        hidden = secrets.filter { $0.utf8.count >= 3 }.sorted { $0.count > $1.count }
    }

    mutating func raw(_ line: String) {
        text += line
        if !line.hasSuffix("\n") { text += "\n" }
    }

    /// travis-build's variables (TRAVIS_BRANCH, TRAVIS_JOB_NUMBER, … and their CONVEYOR_ twins), exported
    /// before anything runs and not shown, as travis-build does. The build directory is where the clone goes.
    mutating func exportBuiltins(_ env: [EnvVar]) throws(ShellQuotingError) {
        guard !env.isEmpty else { return }
        raw("export TRAVIS_BUILD_DIR=\"$PWD/repo\" CONVEYOR_BUILD_DIR=\"$PWD/repo\"")
        for variable in env where ShellQuoting.isValidVariableName(variable.name) {
            raw("export \(variable.name)=\(try ShellQuoting.singleQuoted(variable.value))")
        }
    }

    /// Clone, then check out the sha (or a pull request's merge result); fetch it when the shallow clone
    /// doesn't hold it; then submodules. Any failure errors the job. `git: clone: false` skips it all.
    mutating func checkout(_ spec: CheckoutSpec) throws(ShellQuotingError) {
        let quote = { (text: String) throws(ShellQuotingError) -> String in try ShellQuoting.singleQuoted(text) }
        let git = spec.git
        guard git.clone else {
            raw("mkdir -p repo && cd repo")
            return
        }
        let quiet = git.quiet ? " --quiet" : ""
        var clone = "git clone\(quiet)"
        if spec.depth > 0 { clone += " --depth=\(spec.depth)" }
        if let branch = spec.branch, !branch.isEmpty { clone += " --branch \(try quote(branch))" }
        if git.sparseCheckout != nil { clone += " --no-checkout" }
        clone += " -- \(try quote(spec.repoURL)) repo"
        let checkoutSha = "git checkout -qf \(try quote(spec.sha))"
        let fetchSha = "git fetch -q origin \(try quote(spec.sha)) 2>/dev/null || git fetch -q --unshallow origin"
        raw("conveyor_fold_start git.checkout")
        if git.lfsSkipSmudge { raw("export GIT_LFS_SKIP_SMUDGE=1") }
        var steps: [(command: String, display: String)] = [(clone, clone), ("cd repo", "cd repo")]
        if let sparse = git.sparseCheckout {
            let setup = "git config core.sparseCheckout true && { git cat-file -e \(try quote(spec.sha + "^{commit}")) 2>/dev/null || \(fetchSha); }"
                + " && git show \(try quote(spec.sha + ":" + sparse)) > .git/info/sparse-checkout"
            steps.append((setup, "git sparse-checkout \(sparse)"))
        }
        let headCheckout = "\(checkoutSha) 2>/dev/null || { \(fetchSha) && \(checkoutSha); }"
        if let number = spec.pullRequest, spec.mergeable != false {
            let ref = "refs/pull/\(number)/merge"
            let fetchMerge = "git fetch\(quiet) origin \(try quote("+" + ref + ":"))"
            let fallback = "echo \(try quote("Could not fetch \(ref); building the pull request's head commit \(spec.sha) instead."))"
            steps.append(("{ \(fetchMerge) && git checkout -qf FETCH_HEAD; } || { \(fallback); \(headCheckout); }",
                          "\(fetchMerge) && git checkout -qf FETCH_HEAD"))
        } else {
            if let number = spec.pullRequest {
                raw("echo \(try quote("GitHub reports pull request #\(number) as not mergeable; building its head commit \(spec.sha) instead of the merge result."))")
            }
            steps.append((headCheckout, checkoutSha))
        }
        for step in steps { try checkoutStep(step.command, display: step.display) }
        if spec.pullRequest != nil {
            raw("[ \"$conveyor_result\" -eq 0 ] && export TRAVIS_COMMIT=\"$(git rev-parse HEAD)\" CONVEYOR_COMMIT=\"$(git rev-parse HEAD)\"")
        }
        if git.submodules {
            var update = "git submodule update --init --recursive\(quiet)"
            if let depth = git.submodulesDepth { update += " --depth=\(depth)" }
            raw("if [ \"$conveyor_result\" -eq 0 ] && [ -f .gitmodules ]; then")
            try checkoutStep(update, display: update)
            raw("fi")
        }
        raw("conveyor_fold_end git.checkout")
    }

    private mutating func checkoutStep(_ command: String, display: String) throws(ShellQuotingError) {
        let quote = { (text: String) throws(ShellQuotingError) -> String in try ShellQuoting.singleQuoted(text) }
        raw("""
            if [ "$conveyor_result" -eq 0 ]; then
              conveyor_cmd \(try quote(display)) \(try quote(command)) || { conveyor_failed \(try quote(display)) $? checkout; conveyor_result=2; }
            fi
            """)
    }

    /// Global vars come first in `env`; secure ones are shown as `[secure]` but exported with their value.
    mutating func exportEnv(_ env: [EnvVar]) throws(ShellQuotingError) {
        guard !env.isEmpty else { return }
        raw("conveyor_fold_start env")
        raw("if [ \"$conveyor_result\" -eq 0 ]; then")
        raw("  echo 'Setting environment variables from the build config'")
        for variable in env where ShellQuoting.isValidVariableName(variable.name) {
            let value = variable.secure || !variable.expandsVariables
                ? try ShellQuoting.singleQuoted(variable.value)
                : try ShellQuoting.doubleQuotedExpandingVariables(variable.value)
            let shown = variable.secure ? "[secure]" : masked(variable.value)
            raw("  printf '%s\\n' \(try ShellQuoting.singleQuoted("$ export \(variable.name)=\(shown)"))")
            raw("  export \(variable.name)=\(value)")
        }
        raw("fi")
        raw("conveyor_fold_end env")
    }

    /// before_install, install, before_script: each command folded; the first failure errors the job and
    /// skips everything after it (but the after_* phases).
    mutating func setupPhase(_ phase: Phase, commands: [String]) throws(ShellQuotingError) {
        for (index, command) in commands.enumerated() {
            let fold = "\(phase.rawValue).\(index + 1)"
            let display = try ShellQuoting.singleQuoted(masked(command))
            raw("""
                if [ "$conveyor_result" -eq 0 ]; then
                  conveyor_fold_start \(fold)
                  conveyor_cmd \(display) \(try ShellQuoting.singleQuoted(command)) || { conveyor_failed \(display) $? \(phase.rawValue); conveyor_result=2; }
                  conveyor_fold_end \(fold)
                fi
                """)
        }
    }

    /// Every script command runs (unless setup errored); any failure makes the job failed. Not folded.
    mutating func scriptPhase(_ commands: [String]) throws(ShellQuotingError) {
        guard !commands.isEmpty else { return }
        raw("if [ \"$conveyor_result\" -eq 0 ]; then")
        for command in commands {
            let display = try ShellQuoting.singleQuoted(masked(command))
            raw("""
                  conveyor_cmd \(display) \(try ShellQuoting.singleQuoted(command))
                  conveyor_script_status=$?
                  if [ "$conveyor_script_status" -ne 0 ]; then
                    printf '\\033[31;1mThe command "%s" exited with %s.\\033[0m\\n' \(display) "$conveyor_script_status"
                    conveyor_result=1
                  else
                    printf '\\033[32;1mThe command "%s" exited with 0.\\033[0m\\n' \(display)
                  fi
                """)
        }
        raw("fi")
    }

    /// after_success (passed) or after_failure (failed or errored), then after_script. Their failures
    /// are reported but never change the result.
    mutating func afterPhases(_ phases: [Phase: [String]]) throws(ShellQuotingError) {
        raw("export CONVEYOR_TEST_RESULT=$conveyor_result TRAVIS_TEST_RESULT=$conveyor_result")
        let groups: [(Phase, String)] = [(.afterSuccess, "-eq 0"), (.afterFailure, "-ne 0"), (.afterScript, "-ge 0")]
        for (phase, test) in groups {
            let commands = phases[phase] ?? []
            guard !commands.isEmpty else { continue }
            raw("if [ \"$conveyor_result\" \(test) ]; then")
            for (index, command) in commands.enumerated() {
                let fold = "\(phase.rawValue).\(index + 1)"
                let display = try ShellQuoting.singleQuoted(masked(command))
                raw("""
                      conveyor_fold_start \(fold)
                      conveyor_cmd \(display) \(try ShellQuoting.singleQuoted(command)) || conveyor_failed \(display) $? \(phase.rawValue)
                      conveyor_fold_end \(fold)
                    """)
            }
            raw("fi")
        }
    }

    /// Text shown in the log, with secret values replaced.
    func masked(_ text: String) -> String {
        hidden.reduce(text) { $0.replacingOccurrences(of: $1, with: "[secure]") }
    }
}
