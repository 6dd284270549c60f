import Testing
@testable import ConveyorModel

/// travis-yml's matrix expectations (spec/travis/yml/matrix_spec.rb, matrix/defaults_spec.rb).
@Suite struct TravisMatrixTests {
    private func rows(_ build: ExpandedBuild, _ keys: [String]) -> [[String: String]] {
        build.jobs.map { job in
            var row: [String: String] = [:]
            for key in keys { if let value = job.key(key) { row[key] = value } }
            return row
        }
    }

    @Test func archExpandsOnlyOnLinux() throws {
        let build = try expand("""
            os: [linux, osx, windows]
            arch: [amd64, arm64]
            """)
        #expect(rows(build, ["os", "arch"]) == [["os": "linux", "arch": "amd64"], ["os": "linux", "arch": "arm64"],
                                                ["os": "osx"], ["os": "windows"]])
    }

    @Test func osxImageExpandsOnlyOnOSX() throws {
        let build = try expand("""
            os: [linux, osx]
            osx_image: [xcode9.4, xcode10.2]
            """)
        #expect(rows(build, ["os", "osx_image"]) == [["os": "linux"], ["os": "osx", "osx_image": "xcode9.4"],
                                                     ["os": "osx", "osx_image": "xcode10.2"]])
    }

    @Test func linuxDefaultsToXenialAndOtherSystemsHaveNoDist() throws {
        let build = try expand("""
            os: [linux, osx, windows]
            dist: bionic
            """)
        #expect(rows(build, ["os", "dist"]) == [["os": "linux", "dist": "bionic"], ["os": "osx"], ["os": "windows"]])
        let plain = try expand("language: python")
        #expect(plain.jobs.map(\.dist) == ["xenial"])
        #expect(plain.jobs[0].key("dist") == "xenial")
    }

    @Test func objectiveCRunsOnOSXWithoutDistOrArch() throws {
        let build = try expand("""
            language: objective-c
            dist: xenial
            arch: [amd64, arm64]
            """)
        #expect(rows(build, ["language", "os", "dist", "arch"]) == [["language": "objective-c", "os": "osx"]])
    }

    @Test func keyUnsupportedByTheLanguageLeavesNoBogusJob() throws {
        let build = try expand("""
            language: shell
            compiler: [gcc, clang]
            matrix:
              include:
                - env: ONE=one
            """)
        #expect(build.jobs.count == 1)
        #expect(build.jobs[0].envText == ["ONE=one"])
        #expect(build.jobs[0].key("compiler") == nil)
        let c = try expand("""
            language: c
            compiler: [gcc, clang]
            python: "3.7"
            """)
        #expect(c.jobs.map { $0.key("compiler") } == ["gcc", "clang"])
        #expect(c.jobs.allSatisfy { $0.key("python") == nil })
    }

    @Test func conditionalExcludes() throws {
        let always = try expand("""
            env: [FOO=one, FOO=two]
            jobs:
              exclude:
                - env: FOO=one
                  if: true
            """)
        #expect(always.jobs.map(\.envText) == [["FOO=two"]])
        let never = try expand("""
            env: [FOO=one, FOO=two]
            jobs:
              exclude:
                - env: FOO=one
                  if: false
            """)
        #expect(never.jobs.count == 2)
        let byEnv = try expand("""
            env: [FOO=one, FOO=two]
            jobs:
              exclude:
                - if: env(FOO) = two
            """)
        #expect(byEnv.jobs.map(\.envText) == [["FOO=one"]])
        let byBranch = try expand("""
            env: [FOO=one, FOO=two]
            jobs:
              exclude:
                - env: FOO=two
                  if: branch != main
            """, context: pushContext(branch: "dev"))
        #expect(byBranch.jobs.map(\.envText) == [["FOO=one"]])
    }

    @Test func anEnvHashKeepsItsOrder() throws {
        let single = try expand("""
            env:
              ZED: z
              ALPHA: a
              MIDDLE: $ZED
            """)
        #expect(single.jobs.map(\.envText) == [["ZED=z", "ALPHA=a", "MIDDLE=$ZED"]])
        let global = try expand("""
            env:
              global:
                FOO: foo
                BAR: bar
              jobs:
                - B: 1
                  A: 2
            """)
        #expect(global.jobs.map(\.envText) == [["FOO=foo", "BAR=bar", "B=1", "A=2"]])
    }

    @Test func aBuildWithoutJobsSaysWhy() throws {
        let excluded = try expand("""
            rvm: ["2.6", "2.7"]
            env: [A=1, A=2]
            jobs:
              exclude:
                - rvm: "2.6"
                - rvm: "2.7"
            """)
        #expect(excluded.jobs.isEmpty)
        #expect(excluded.noJobsReason == "all 4 jobs excluded by jobs.exclude")
        let staged = try expand("""
            stages:
              - name: deploy
                if: branch = master
            jobs:
              include:
                - stage: deploy
                  script: echo deploy
            """)
        #expect(staged.jobs.isEmpty)
        #expect(staged.noJobsReason == "stage deploy skipped: branch = master is false")
        #expect(try expand("script: echo hi").noJobsReason == nil)
    }

    @Test func conditionsSeeTheWholeBuildContext() throws {
        let yaml = """
            jobs:
              include:
                - name: fork
                  if: fork
                - name: head
                  if: head_branch = feature AND head_sha = abc123 AND head_repo = someone/repo
                - name: settings
                  if: env(DEPLOY_KEY) IS present
            """
        let context = BuildRequestContext(branch: "main", eventType: "pull_request", repo: "owner/repo", fork: true,
                                          pullRequestBaseBranch: "main", headRepo: "someone/repo", pullRequest: 3,
                                          headBranch: "feature", headSha: "abc123",
                                          settingsEnv: [EnvVar(name: "DEPLOY_KEY", value: "k")])
        #expect(try expand(yaml, context: context).jobs.compactMap(\.name) == ["fork", "head", "settings"])
        #expect(try expand(yaml).jobs.isEmpty)
    }

    @Test func gitOptionsAreReadWithTravisDefaults() throws {
        let build = try expand("""
            git:
              depth: 3
              clone: false
              submodules: false
              submodules_depth: 1
              quiet: true
              lfs_skip_smudge: true
              sparse_checkout: paths.txt
            """)
        let git = try #require(build.jobs[0].git)
        #expect(build.jobs[0].gitDepth == 3)
        #expect(!git.clone && !git.submodules && git.quiet && git.lfsSkipSmudge)
        #expect(git.submodulesDepth == 1 && git.sparseCheckout == "paths.txt")
        #expect(try expand("git: {depth: 5}").jobs[0].git == nil)
    }

    @Test func pullRequestHeadIsAForkWhenItsRepositoryDiffers() {
        #expect(PullRequestHead(repo: "someone/app").isFork(of: "octo/app"))
        #expect(!PullRequestHead(repo: "Octo/App").isFork(of: "octo/app"))
        #expect(PullRequestHead(repo: nil, repoGone: true).isFork(of: "octo/app"))
        #expect(!PullRequestHead().isFork(of: "octo/app"))
    }

    @Test func autoCancelScopesAndStates() {
        let policy = AutoCancelPolicy()
        #expect(policy.scope(eventType: "push", branch: "main", tag: nil, pullRequest: nil) == .branch("main"))
        #expect(policy.scope(eventType: "push", branch: "v1", tag: "v1", pullRequest: nil) == nil)
        #expect(policy.scope(eventType: "pull_request", branch: "main", tag: nil, pullRequest: 4) == .pullRequest(4))
        #expect(policy.scope(eventType: "api", branch: "main", tag: nil, pullRequest: nil) == nil)
        #expect(AutoCancelPolicy(pushes: false).scope(eventType: "push", branch: "main", tag: nil, pullRequest: nil) == nil)
        #expect(policy.cancels(.queued) && policy.cancels(.created) && !policy.cancels(.started) && !policy.cancels(.passed))
        #expect(AutoCancelPolicy(running: true).cancels(.started))
        #expect(AutoCancelPolicy.reason(supersededBy: 12) == "superseded by build #12")
    }
}
