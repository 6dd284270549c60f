import Testing
@testable import ConveyorModel

@Suite struct SkipAndConditionFilterTests {
    @Test func ciSkipInCommitMessageSkips() throws {
        #expect(try expand("script: x", context: pushContext(message: "docs [ci skip]")).skipped
            == "commit message contains [ci skip]")
        #expect(try expand("script: x", context: pushContext(message: "Docs [SKIP CI] only")).skipped
            == "commit message contains [skip ci]")
        #expect(try expand("script: x", context: pushContext(message: "ci skip")).skipped == nil)
    }

    @Test func ciSkipDoesNotApplyToAPIRequests() throws {
        let api = BuildRequestContext(branch: "main", eventType: "api", commitMessage: "[ci skip]")
        #expect(try expand("script: x", context: api).skipped == nil)
    }

    @Test func branchesExcept() throws {
        let yaml = "branches:\n  except: [gh-pages, /^wip-/]"
        #expect(try expand(yaml, context: pushContext(branch: "gh-pages")).skipped
            == "branch gh-pages is excluded by branches.except")
        #expect(try expand(yaml, context: pushContext(branch: "wip-x")).skipped != nil)
        #expect(try expand(yaml, context: pushContext(branch: "main")).skipped == nil)
        #expect(try expand(yaml, context: pushContext(branch: "main")).jobs.count == 1)
    }

    @Test func branchesOnlyWithRegexAndOnlyWins() throws {
        let yaml = "branches:\n  only: [main, /^release-.*$/]\n  except: [main]"
        #expect(try expand(yaml, context: pushContext(branch: "main")).skipped == nil)
        #expect(try expand(yaml, context: pushContext(branch: "release-1")).skipped == nil)
        #expect(try expand(yaml, context: pushContext(branch: "feature")).skipped
            == "branch feature is not included by branches.only")
        #expect(try expand("branches: [main]", context: pushContext(branch: "dev")).skipped != nil)
    }

    @Test func pullRequestsUseTheBaseBranchForBranchRules() throws {
        let pr = BuildRequestContext(branch: "feature", eventType: "pull_request", pullRequestBaseBranch: "main")
        #expect(try expand("branches: {only: [main]}", context: pr).skipped == nil)
    }

    @Test func buildConditionFalseSkips() throws {
        let build = try expand("if: branch = main\nscript: x", context: pushContext(branch: "dev"))
        #expect(build.skipped == "build condition is false: branch = main")
        #expect(build.jobs.isEmpty)
        #expect(try expand("if: branch = main\nscript: x").skipped == nil)
    }

    @Test func jobConditionsFilterJobs() throws {
        let yaml = """
            language: shell
            jobs:
              include:
                - script: unit
                - script: deploy
                  if: branch = main AND type != pull_request
                - script: osx-only
                  os: osx
                  if: os = linux
            """
        let build = try expand(yaml)
        #expect(build.jobs.map { $0.phases[.script] ?? [] } == [["unit"], ["deploy"]])
        #expect(try expand(yaml, context: pushContext(branch: "dev")).jobs.count == 1)
    }

    @Test func jobConditionSeesJobEnv() throws {
        let build = try expand("""
            language: shell
            jobs:
              include:
                - env: DEPLOY=1
                  if: env(DEPLOY) = 1
                - env: DEPLOY=0
                  if: env(DEPLOY) = 1
            """)
        #expect(build.jobs.map(\.envText) == [["DEPLOY=1"]])
    }

    @Test func invalidConditionIsAConfigError() {
        #expect(expansionError("if: branch ===\nscript: x")?.message.hasPrefix("invalid condition") == true)
    }
}
