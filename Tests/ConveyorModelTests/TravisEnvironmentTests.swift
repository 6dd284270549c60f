import Foundation
import Testing
@testable import ConveyorModel

/// travis-build's environment, checkout of pull requests and git options, on real bash and git.
@Suite struct TravisEnvironmentTests {
    private func facts(event: String = "push", tag: String? = nil, pullRequest: Int? = nil, headRepo: String? = nil) -> BuildFacts {
        BuildFacts(repoSlug: "octo/app", buildID: 41, buildNumber: 7, jobID: 99, jobNumber: "7.2", eventType: event,
                   branch: "main", tag: tag, commit: "c0ffee", commitMessage: "Fix it", previousCommit: "beef",
                   pullRequest: pullRequest, pullRequestBranch: pullRequest == nil ? nil : "feature",
                   pullRequestSha: pullRequest == nil ? nil : "abc123", pullRequestSlug: headRepo, webURL: "https://ci.example/")
    }

    private func value(_ env: [EnvVar], _ name: String) -> String? {
        env.first { $0.name == name }?.value
    }

    @Test func aPushGetsTravisVariablesAndConveyorTwins() {
        let job = JobSpec(stage: "deploy", allowFailure: true, name: "ship", os: "linux", dist: "focal", arch: "arm64",
                          env: [EnvVar(name: "TOKEN", value: "x", secure: true)])
        let env = BuildEnvironment.variables(job: job, facts: facts())
        let expected: [String: String] = [
            "TRAVIS_ALLOW_FAILURE": "true", "TRAVIS_BRANCH": "main", "TRAVIS_BUILD_ID": "41", "TRAVIS_BUILD_NUMBER": "7",
            "TRAVIS_BUILD_WEB_URL": "https://ci.example/builds/41", "TRAVIS_BUILD_STAGE_NAME": "Deploy", "TRAVIS_COMMIT": "c0ffee",
            "TRAVIS_COMMIT_MESSAGE": "Fix it", "TRAVIS_COMMIT_RANGE": "beef...c0ffee", "TRAVIS_CPU_ARCH": "arm64", "TRAVIS_DIST": "focal",
            "TRAVIS_EVENT_TYPE": "push", "TRAVIS_JOB_ID": "99", "TRAVIS_JOB_NAME": "ship", "TRAVIS_JOB_NUMBER": "7.2",
            "TRAVIS_JOB_WEB_URL": "https://ci.example/jobs/99", "TRAVIS_OS_NAME": "linux", "TRAVIS_PULL_REQUEST": "false",
            "TRAVIS_PULL_REQUEST_BRANCH": "", "TRAVIS_PULL_REQUEST_SHA": "", "TRAVIS_PULL_REQUEST_SLUG": "",
            "TRAVIS_REPO_SLUG": "octo/app", "TRAVIS_SECURE_ENV_VARS": "true", "TRAVIS_TAG": "",
        ]
        for (name, wanted) in expected {
            #expect(value(env, name) == wanted, "\(name)")
            let twin = "CONVEYOR_" + name.dropFirst("TRAVIS_".count)
            #expect(value(env, twin) == wanted, "\(twin)")
        }
    }

    @Test func aForkPullRequestHasNoSecureVarsAndNamesItsHead() {
        let job = JobSpec(env: [EnvVar(name: "TOKEN", value: "x", secure: true)])
        let env = BuildEnvironment.variables(job: job, facts: facts(event: "pull_request", pullRequest: 5, headRepo: "someone/app"))
        #expect(value(env, "TRAVIS_PULL_REQUEST") == "5")
        #expect(value(env, "TRAVIS_PULL_REQUEST_BRANCH") == "feature")
        #expect(value(env, "TRAVIS_PULL_REQUEST_SHA") == "abc123")
        #expect(value(env, "TRAVIS_PULL_REQUEST_SLUG") == "someone/app")
        #expect(value(env, "TRAVIS_SECURE_ENV_VARS") == "false")
        #expect(value(env, "TRAVIS_COMMIT_RANGE") == "beef...abc123")
        let none = BuildEnvironment.variables(job: JobSpec(), facts: facts(tag: "v1.0"))
        #expect(value(none, "TRAVIS_SECURE_ENV_VARS") == "false")
        #expect(value(none, "TRAVIS_TAG") == "v1.0")
        var newBranch = facts()
        newBranch.previousCommit = String(repeating: "0", count: 40)
        #expect(value(BuildEnvironment.variables(job: JobSpec(), facts: newBranch), "TRAVIS_COMMIT_RANGE") == "")
    }

    @Test func theScriptExportsTheBuiltinsAndTheBuildDirectory() throws {
        let builtins = BuildEnvironment.variables(job: JobSpec(), facts: facts())
        let job = shellJob([.script: ["echo \"branch=$TRAVIS_BRANCH number=$CONVEYOR_JOB_NUMBER\"",
                                      "test \"$TRAVIS_BUILD_DIR\" = \"$PWD\" && echo in-build-dir"],
                            .afterScript: ["echo result=$TRAVIS_TEST_RESULT"]])
        let run = try runScript(job, builtins: builtins)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("branch=main number=7.2"))
        #expect(run.output.contains("in-build-dir"))
        #expect(run.output.contains("result=0"))
        #expect(!run.output.contains("TRAVIS_JOB_ID"), "built-ins are exported without being shown")
    }

    @Test func aPullRequestBuildsItsMergeResult() throws {
        let run = try runScript(shellJob([.script: ["cat file.txt feature.txt", "echo commit=$TRAVIS_COMMIT"]]),
                                pullRequest: 7, mergeable: nil)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("two\nfeature\n"), "the merge holds both sides")
        #expect(run.output.contains("refs/pull/7/merge"))
    }

    @Test func anUnmergeablePullRequestBuildsItsHeadWithALogLine() throws {
        let run = try runScript(shellJob([.script: ["cat file.txt feature.txt"]]), pullRequest: 7, mergeable: false)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("one\nfeature\n"), "the head commit, without main's second commit")
        #expect(run.output.contains("not mergeable; building its head commit"))
    }

    @Test func cloneFalseSkipsTheCheckout() throws {
        var git = GitOptions()
        git.clone = false
        let run = try runScript(shellJob([.script: ["test ! -e file.txt && echo empty"]]), git: git)
        #expect(run.status == 0)
        #expect(run.output.contains("empty"))
        #expect(!run.output.contains("git clone"))
    }

    @Test func quietLfsAndSubmoduleOptionsShapeTheCommands() throws {
        var git = GitOptions()
        git.quiet = true
        git.lfsSkipSmudge = true
        git.submodulesDepth = 1
        let script = try ScriptCompiler.compile(job: JobSpec(), checkout: CheckoutSpec(repoURL: "file:///x", sha: "abc", git: git))
        #expect(script.contains("git clone --quiet --depth=50"))
        #expect(script.contains("export GIT_LFS_SKIP_SMUDGE=1"))
        #expect(script.contains("git submodule update --init --recursive --quiet --depth=1"))
        git.submodules = false
        let without = try ScriptCompiler.compile(job: JobSpec(), checkout: CheckoutSpec(repoURL: "file:///x", sha: "abc", git: git))
        #expect(!without.contains("git submodule"))
    }

    @Test func submodulesAreCheckedOut() throws {
        let run = try runScript(shellJob([.script: ["cat sub/inner.txt"]]), withSubmodule: true)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("inner\n"))
    }

    @Test func sparseCheckoutLeavesOtherPathsOut() throws {
        var git = GitOptions()
        git.sparseCheckout = "sparse.txt"
        let run = try runScript(shellJob([.script: ["cat kept/a.txt", "test ! -e other/b.txt && echo sparse-ok"]]), git: git,
                                sparse: true)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("sparse-ok"))
    }

    /// A repository with a pull request (refs/pull/7/head and /merge, as GitHub keeps them), optionally a
    /// submodule or a sparse layout, then the job's script run against it.
    private func runScript(_ job: JobSpec, builtins: [EnvVar] = [], pullRequest: Int? = nil, mergeable: Bool? = nil,
                           git: GitOptions = GitOptions(), withSubmodule: Bool = false, sparse: Bool = false) throws -> ScriptRun {
        let repo = try ScriptRunner.makeRepository()
        defer { try? FileManager.default.removeItem(at: repo.directory) }
        let origin = repo.directory.appendingPathComponent("origin").path
        var setup = """
            set -e
            cd '\(origin)'
            git config user.email t@example.com
            git config user.name Test
            git checkout -q -b feature \(repo.first)
            echo feature > feature.txt
            git add feature.txt
            git commit -q -m feature
            git update-ref refs/pull/7/head HEAD
            git checkout -q main
            git merge -q --no-ff -m merge feature
            git update-ref refs/pull/7/merge HEAD
            git reset -q --hard \(repo.second)

            """
        if withSubmodule {
            setup += """
                mkdir ../inner && cd ../inner && git init -q -b main . && echo inner > inner.txt && git add . \\
                  && git -c user.email=t@example.com -c user.name=T commit -q -m inner
                cd '\(origin)'
                git -c protocol.file.allow=always submodule -q add ../inner sub
                git commit -q -m submodule

                """
        }
        if sparse {
            setup += """
                mkdir kept other && echo a > kept/a.txt && echo b > other/b.txt && printf 'kept/\\n/sparse.txt\\n' > sparse.txt
                git add . && git commit -q -m layout

                """
        }
        setup += "git rev-parse HEAD > ../head\n"
        let prepared = try ScriptRunner.bash(setup, in: repo.directory)
        guard prepared.status == 0 else { throw ScriptRunner.RunnerError(message: prepared.output) }
        let head = try String(contentsOf: repo.directory.appendingPathComponent("head"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let sha = pullRequest == nil ? head : try String(contentsOf: repo.directory.appendingPathComponent("first"), encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // The pull request's head is the feature commit: its parent is the first commit.
        let prHead = pullRequest == nil ? sha : try ScriptRunner.bash("git -C '\(origin)' rev-parse refs/pull/7/head", in: repo.directory)
            .output.trimmingCharacters(in: .whitespacesAndNewlines)
        let checkout = CheckoutSpec(repoURL: repo.url, sha: prHead, branch: "main", depth: 50, pullRequest: pullRequest,
                                    mergeable: mergeable, git: git)
        var script = try ScriptCompiler.compile(job: job, checkout: checkout, builtinEnv: builtins)
        // Local submodules need the file transport, which git refuses by default.
        script = script.replacingOccurrences(of: "conveyor_result=0\n", with: "conveyor_result=0\nexport GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=protocol.file.allow GIT_CONFIG_VALUE_0=always\n")
        let work = repo.directory.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        return try ScriptRunner.bash(script, in: work)
    }
}

@Suite struct LogRendererTests {
    private let stored = "Worker information\n"
        + "conveyor_fold:start:install.1\r\u{1B}[0K\u{1B}[33;1m$ npm ci\u{1B}[0m\n"
        + "conveyor_time:start:ab12\r\u{1B}[0Kadded 3 packages\n"
        + "conveyor_time:end:ab12:start=1,finish=2,duration=1500000000\r\u{1B}[0K"
        + "conveyor_fold:end:install.1\r\u{1B}[0K"
        + "\u{1B}[33;1m$ npm test\u{1B}[0m\n"
        + "conveyor_time:start:cd34\r\u{1B}[0Kok\n"
        + "conveyor_time:end:cd34:start=1,finish=2,duration=20000000\r\u{1B}[0K"
        + "\u{1B}[32;1mThe command \"npm test\" exited with 0.\u{1B}[0m\n"

    private func render(_ text: String, collapse: Bool, colors: Bool, chunk: Int) -> String {
        var renderer = LogRenderer(collapseFolds: collapse, colors: colors)
        let bytes = Array(text.utf8)
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            output += renderer.feed(Array(bytes[index..<min(index + chunk, bytes.count)]))
            index += chunk
        }
        output += renderer.finish()
        return String(decoding: output, as: UTF8.self)
    }

    @Test func onATerminalAFoldIsOneLineWithItsDuration() {
        for chunk in [1, 7, 4096] {
            let shown = render(stored, collapse: true, colors: true, chunk: chunk)
            #expect(shown.contains("install.1  $ npm ci  (1.50s)"), "chunk \(chunk): \(shown.debugDescription)")
            #expect(!shown.contains("added 3 packages"))
            #expect(!shown.contains("conveyor_"))
            #expect(shown.contains("\u{1B}[32;1mThe command"), "colours kept on a terminal")
        }
    }

    @Test func pipedTheFoldsAreWholeAndColoursStripped() {
        let shown = render(stored, collapse: false, colors: false, chunk: 5)
        #expect(shown == "Worker information\n$ npm ci\nadded 3 packages\n$ npm test\nok\nThe command \"npm test\" exited with 0.\n")
    }

    @Test func aFailedFoldShowsItsContent() {
        let failing = "conveyor_fold:start:install.1\r\u{1B}[0K$ make\nboom\n"
            + "The command \"make\" failed and exited with 2 during install.\nconveyor_fold:end:install.1\r\u{1B}[0K"
        let shown = render(failing, collapse: true, colors: false, chunk: 3)
        #expect(shown.contains("install.1  $ make"))
        #expect(shown.contains("boom\n"))
    }
}
