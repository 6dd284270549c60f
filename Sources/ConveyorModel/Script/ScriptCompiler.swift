import Foundation

/// Compiles a job into the bash script a worker runs: checkout, env, then Travis's phases, with fold and
/// timing markers, and an exit code of 0 (passed), 1 (failed) or 2 (errored). See `ScriptPrelude`.
public enum ScriptCompiler {
    /// `secrets` are extra values (besides the job's secure env vars) never shown in echoed commands.
    public static func compile(job: JobSpec, checkout: CheckoutSpec, secrets: [String] = []) -> String {
        var script = ScriptWriter(hiding: secrets + job.env.filter(\.secure).map(\.value))
        script.raw(ScriptPrelude.text)
        script.checkout(checkout)
        script.exportEnv(job.env)
        for phase in [Phase.beforeInstall, .install, .beforeScript] {
            script.setupPhase(phase, commands: job.phases[phase] ?? [])
        }
        script.scriptPhase(job.phases[.script] ?? [])
        // after_success/after_failure, then the deploy step, then after_script, as on Travis.
        script.afterPhases(job.phases.filter { $0.key != .afterScript })
        DeployPhase.script(job.deploy, writer: &script)
        script.afterPhases(job.phases.filter { $0.key == .afterScript })
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

    /// Clone, then check out the sha; fetch it when the shallow clone doesn't hold it. Any failure errors.
    mutating func checkout(_ spec: CheckoutSpec) {
        let quote = ShellQuoting.singleQuoted
        var clone = "git clone"
        if spec.depth > 0 { clone += " --depth=\(spec.depth)" }
        if let branch = spec.branch, !branch.isEmpty { clone += " --branch \(quote(branch))" }
        clone += " -- \(quote(spec.repoURL)) repo"
        let checkoutSha = "git checkout -qf \(quote(spec.sha))"
        let fetchSha = "git fetch -q origin \(quote(spec.sha)) 2>/dev/null || git fetch -q --unshallow origin"
        raw("conveyor_fold_start git.checkout")
        for (command, display) in [(clone, clone), ("cd repo", "cd repo"),
                                   ("\(checkoutSha) 2>/dev/null || { \(fetchSha) && \(checkoutSha); }", checkoutSha)] {
            raw("""
                if [ "$conveyor_result" -eq 0 ]; then
                  conveyor_cmd \(quote(display)) \(quote(command)) || { conveyor_failed \(quote(display)) $? checkout; conveyor_result=2; }
                fi
                """)
        }
        raw("conveyor_fold_end git.checkout")
    }

    /// Global vars come first in `env`; secure ones are shown as `[secure]` but exported with their value.
    mutating func exportEnv(_ env: [EnvVar]) {
        guard !env.isEmpty else { return }
        raw("conveyor_fold_start env")
        raw("if [ \"$conveyor_result\" -eq 0 ]; then")
        raw("  echo 'Setting environment variables from the build config'")
        for variable in env where ShellQuoting.isValidVariableName(variable.name) {
            let value = variable.secure || !variable.expandsVariables
                ? ShellQuoting.singleQuoted(variable.value)
                : ShellQuoting.doubleQuotedExpandingVariables(variable.value)
            let shown = variable.secure ? "[secure]" : masked(variable.value)
            raw("  printf '%s\\n' \(ShellQuoting.singleQuoted("$ export \(variable.name)=\(shown)"))")
            raw("  export \(variable.name)=\(value)")
        }
        raw("fi")
        raw("conveyor_fold_end env")
    }

    /// before_install, install, before_script: each command folded; the first failure errors the job and
    /// skips everything after it (but the after_* phases).
    mutating func setupPhase(_ phase: Phase, commands: [String]) {
        for (index, command) in commands.enumerated() {
            let fold = "\(phase.rawValue).\(index + 1)"
            let display = ShellQuoting.singleQuoted(masked(command))
            raw("""
                if [ "$conveyor_result" -eq 0 ]; then
                  conveyor_fold_start \(fold)
                  conveyor_cmd \(display) \(ShellQuoting.singleQuoted(command)) || { conveyor_failed \(display) $? \(phase.rawValue); conveyor_result=2; }
                  conveyor_fold_end \(fold)
                fi
                """)
        }
    }

    /// Every script command runs (unless setup errored); any failure makes the job failed. Not folded.
    mutating func scriptPhase(_ commands: [String]) {
        guard !commands.isEmpty else { return }
        raw("if [ \"$conveyor_result\" -eq 0 ]; then")
        for command in commands {
            let display = ShellQuoting.singleQuoted(masked(command))
            raw("""
                  conveyor_cmd \(display) \(ShellQuoting.singleQuoted(command))
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
    mutating func afterPhases(_ phases: [Phase: [String]]) {
        raw("export CONVEYOR_TEST_RESULT=$conveyor_result TRAVIS_TEST_RESULT=$conveyor_result")
        let groups: [(Phase, String)] = [(.afterSuccess, "-eq 0"), (.afterFailure, "-ne 0"), (.afterScript, "-ge 0")]
        for (phase, test) in groups {
            let commands = phases[phase] ?? []
            guard !commands.isEmpty else { continue }
            raw("if [ \"$conveyor_result\" \(test) ]; then")
            for (index, command) in commands.enumerated() {
                let fold = "\(phase.rawValue).\(index + 1)"
                let display = ShellQuoting.singleQuoted(masked(command))
                raw("""
                      conveyor_fold_start \(fold)
                      conveyor_cmd \(display) \(ShellQuoting.singleQuoted(command)) || conveyor_failed \(display) $? \(phase.rawValue)
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
