import Foundation
import Testing
@testable import ConveyorModel

@Suite struct ScriptCompilerTests {
    @Test func passingBuildExitsZeroAfterCheckout() throws {
        let run = try ScriptRunner.run(shellJob([.install: ["true"], .script: ["cat file.txt", "git log --oneline | wc -l"]]))
        #expect(run.status == 0)
        #expect(run.output.contains("two"))
        #expect(run.output.contains("Done. Your build exited with 0."))
        #expect(run.output.contains("$ cat file.txt"))
    }

    @Test func failingScriptExitsOneAndLaterCommandsStillRun() throws {
        let run = try ScriptRunner.run(shellJob([.script: ["false", "echo still-ran"],
                                                 .afterFailure: ["echo after-failure-ran"],
                                                 .afterSuccess: ["echo after-success-ran"],
                                                 .afterScript: ["echo after-script-ran"]]))
        #expect(run.status == 1)
        #expect(run.output.contains("still-ran"))
        #expect(run.output.contains("after-failure-ran"))
        #expect(!run.output.contains("after-success-ran"))
        #expect(run.output.contains("after-script-ran"))
        #expect(run.output.contains("The command \"false\" exited with 1."))
        #expect(run.output.contains("Done. Your build exited with 1."))
    }

    @Test func failingInstallErrorsAndSkipsScript() throws {
        let run = try ScriptRunner.run(shellJob([.beforeInstall: ["echo bi"], .install: ["exit_code() { return 3; }; exit_code", "echo second-install"],
                                                 .script: ["echo script-ran"]]))
        #expect(run.status == 2)
        #expect(run.output.contains("bi"))
        #expect(!run.output.contains("second-install\n"))
        #expect(!run.output.contains("script-ran\n"))
        #expect(run.output.contains("failed and exited with 3 during install"))
    }

    @Test func afterFailureRunsWhenSetupErrored() throws {
        let run = try ScriptRunner.run(shellJob([.beforeScript: ["false"], .script: ["echo script-ran"],
                                                 .afterFailure: ["echo result=$CONVEYOR_TEST_RESULT"]]))
        #expect(run.status == 2)
        #expect(run.output.contains("result=2"))
        #expect(run.output.contains("Done. Your build exited with 2."))
    }

    @Test func cdAndExportPersistAcrossCommands() throws {
        let run = try ScriptRunner.run(shellJob([.beforeScript: ["mkdir -p sub && cd sub", "export FOO=bar"],
                                                 .script: ["test \"$(basename \"$PWD\")\" = sub && test \"$FOO\" = bar"]]))
        #expect(run.status == 0)
    }

    @Test func afterPhasesNeverChangeTheResult() throws {
        let run = try ScriptRunner.run(shellJob([.script: ["true"], .afterSuccess: ["false"], .afterScript: ["false"]]))
        #expect(run.status == 0)
    }

    @Test func checkoutFailureErrors() throws {
        let run = try ScriptRunner.run(shellJob([.script: ["echo script-ran"]])) { _, sha, dir in
            CheckoutSpec(repoURL: "file://\(dir.path)/missing", sha: sha, branch: nil, depth: 1)
        }
        #expect(run.status == 2)
        #expect(!run.output.contains("script-ran\n"))
        #expect(run.output.contains("during checkout"))
    }

    @Test func shallowCloneFetchesAnOlderSha() throws {
        let run = try ScriptRunner.run(shellJob([.script: ["cat file.txt"]]), checkout: { url, sha, _ in
            CheckoutSpec(repoURL: url, sha: sha, branch: "main", depth: 1)
        }, useFirstCommit: true)
        #expect(run.status == 0)
        #expect(run.output.contains("one\n"))
    }

    @Test func envIsExportedGlobalFirstAndSecureMasked() throws {
        let env = [EnvVar(name: "GREETING", value: "hello world"),
                   EnvVar(name: "LITERAL", value: "$(echo injected) `id` 'q' \"dq\""),
                   EnvVar(name: "EXPANDED", value: "$GREETING/${GREETING}", expandsVariables: true),
                   EnvVar(name: "TOKEN", value: "s3cr3t-value", secure: true)]
        let run = try ScriptRunner.run(shellJob([.script: ["echo \"[$LITERAL]\"", "echo \"<$EXPANDED>\"",
                                                           "test \"$TOKEN\" = s3cr3t-value"]], env: env))
        #expect(run.status == 0)
        #expect(run.output.contains("$ export TOKEN=[secure]"))
        #expect(run.output.contains("$ export GREETING=hello world"))
        #expect(run.output.contains("[$(echo injected) `id` 'q' \"dq\"]"))
        #expect(run.output.contains("<hello world/hello world>"))
        #expect(!run.output.contains("injected)\n") || run.output.contains("[$(echo injected)"))
    }

    @Test func expandingValuesCannotRunCommands() throws {
        let env = [EnvVar(name: "X", value: "$(touch pwned)`touch pwned2`$", expandsVariables: true)]
        let run = try ScriptRunner.run(shellJob([.script: ["echo \"$X\""]], env: env))
        #expect(run.status == 0)
        #expect(!run.files.contains { $0.contains("pwned") })
        #expect(run.output.contains("$(touch pwned)`touch pwned2`$\n"))
    }

    @Test func hostileCheckoutValuesAreQuoted() throws {
        let run = try ScriptRunner.run(shellJob([.script: ["echo script-ran"]])) { _, _, _ in
            CheckoutSpec(repoURL: "x'; touch pwned1 #", sha: "$(touch pwned2)", branch: "b'b;touch pwned3")
        }
        #expect(run.status == 2)
        #expect(!run.output.contains("script-ran\n"))
        #expect(!run.files.isEmpty)
        #expect(!run.files.contains { $0.contains("pwned") })
        #expect(run.output.contains("x'; touch pwned1 #"))
    }

    @Test func foldAndTimingMarkersAreEmitted() throws {
        let run = try ScriptRunner.run(shellJob([.install: ["echo i1", "echo i2"], .script: ["echo s"]]))
        #expect(run.output.contains("conveyor_fold:start:git.checkout\r\u{1B}[0K"))
        #expect(run.output.contains("conveyor_fold:end:git.checkout\r\u{1B}[0K"))
        #expect(run.output.contains("conveyor_fold:start:install.1\r\u{1B}[0K"))
        #expect(run.output.contains("conveyor_fold:end:install.2\r\u{1B}[0K"))
        #expect(!run.output.contains("conveyor_fold:start:script"))
        let timing = try Regex(#"conveyor_time:end:[0-9a-f]+:start=\d+,finish=\d+,duration=\d+\r\x1B\[0K"#)
        #expect(run.output.matches(of: timing).count == 6)
        #expect(run.output.contains("conveyor_time:start:"))
    }

    @Test func extraSecretsAreHiddenInEchoedCommands() throws {
        let script = try ScriptCompiler.compile(job: shellJob([.script: ["curl -u me:topsecret https://x"]]),
                                            checkout: CheckoutSpec(repoURL: "u", sha: "s"), secrets: ["topsecret"])
        #expect(script.contains("'curl -u me:[secure] https://x'"))
    }

    @Test func fullCloneWhenDepthIsZero() throws {
        let script = try ScriptCompiler.compile(job: shellJob([:]), checkout: CheckoutSpec(repoURL: "u", sha: "s", depth: 0))
        #expect(!script.contains("--depth"))
    }
}
