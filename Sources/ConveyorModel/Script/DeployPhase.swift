/// The bash of a job's deploy step (Travis's before_deploy, deploy, after_deploy): runs only when
/// the script passed, never for a pull request, and only where each entry's `on:` conditions hold
/// (read from the TRAVIS_* variables of the job). A failed deploy fails the job. See docs/deploy.md.
enum DeployPhase {
    static func script(_ spec: DeploySpec?, writer: inout ScriptWriter) throws(ShellQuotingError) {
        guard let spec else { return }
        let quote = ShellQuoting.singleQuoted
        for (index, entry) in spec.entries.enumerated() {
            let fold = "dpl_\(index)"
            writer.raw("""
                if [ "$conveyor_result" -eq 0 ] && [ "${TRAVIS_PULL_REQUEST:-false}" = false ]; then
                  if \(try condition(entry)); then
                """)
            writer.raw("    conveyor_deploy_status=0")
            for (number, command) in spec.beforeDeploy.enumerated() {
                try hook(command, fold: "before_deploy.\(number + 1)", phase: "before_deploy", writer: &writer)
            }
            writer.raw("    conveyor_fold_start \(fold)")
            if entry.cleanup {
                writer.raw("    conveyor_cmd 'git stash --all' 'git stash --all' || true")
            }
            if entry.provider == "script" {
                for command in entry.script {
                    let display = try quote(writer.masked(command))
                    writer.raw("""
                            if [ "$conveyor_deploy_status" -eq 0 ]; then
                              conveyor_cmd \(display) \(try quote(command)) || { conveyor_deploy_status=$?; conveyor_failed \(display) $conveyor_deploy_status deploy; }
                            fi
                        """)
                }
                if entry.script.isEmpty {
                    writer.raw("    printf '\\033[31;1m%s\\033[0m\\n' 'deploy with provider: script needs a script'; conveyor_deploy_status=1")
                }
            } else {
                let message = "deploy provider \(entry.provider.isEmpty ? "(none)" : entry.provider) is not supported here; use provider: script"
                writer.raw("    printf '\\033[31;1m%s\\033[0m\\n' \(try quote(message)); conveyor_deploy_status=1")
            }
            writer.raw("    conveyor_fold_end \(fold)")
            if entry.allowFailure {
                writer.raw("    [ \"$conveyor_deploy_status\" -ne 0 ] && echo 'The deploy failed; allowed to fail.'")
            } else {
                writer.raw("""
                        if [ "$conveyor_deploy_status" -ne 0 ]; then
                          printf '\\033[31;1m%s\\033[0m\\n' 'Failed to deploy.'
                          conveyor_result=1
                        fi
                    """)
            }
            for (number, command) in spec.afterDeploy.enumerated() {
                try hook(command, fold: "after_deploy.\(number + 1)", phase: "after_deploy", writer: &writer)
            }
            writer.raw("""
                  else
                    printf '%s\\n' \(try quote("Skipping a deployment with the \(entry.provider) provider because its conditions are not met"))
                  fi
                fi
                """)
        }
    }

    /// before_deploy / after_deploy commands: reported when they fail, the deploy goes on (as on Travis).
    private static func hook(_ command: String, fold: String, phase: String, writer: inout ScriptWriter) throws(ShellQuotingError) {
        let display = try ShellQuoting.singleQuoted(writer.masked(command))
        writer.raw("""
                conveyor_fold_start \(fold)
                conveyor_cmd \(display) \(try ShellQuoting.singleQuoted(command)) || conveyor_failed \(display) $? \(phase)
                conveyor_fold_end \(fold)
            """)
    }

    /// The `on:` conditions as one bash test.
    static func condition(_ entry: DeploySpec.Entry) throws(ShellQuotingError) -> String {
        let quote = ShellQuoting.singleQuoted
        var tests: [String] = []
        if entry.tags == true {
            tests.append("[ -n \"${TRAVIS_TAG:-}\" ]")
        } else {
            if entry.tags == false { tests.append("[ -z \"${TRAVIS_TAG:-}\" ]") }
            if !entry.allBranches {
                let branches = entry.branches.isEmpty ? DeploySpec.defaultBranches : entry.branches
                var alternatives: [String] = []
                for branch in branches { alternatives.append("[ \"${TRAVIS_BRANCH:-}\" = \(try quote(branch)) ]") }
                tests.append("{ " + alternatives.joined(separator: " || ") + "; }")
            }
        }
        if let repo = entry.repo { tests.append("[ \"${TRAVIS_REPO_SLUG:-}\" = \(try quote(repo)) ]") }
        for condition in entry.conditions { tests.append("[[ \(condition) ]]") }
        return tests.isEmpty ? "true" : tests.joined(separator: " && ")
    }
}
