import Foundation
import Testing
@testable import ConveyorModel

/// `deploy:` read from configs and run by real bash: provider script, `on:` conditions from the
/// TRAVIS_* variables, never after a failed script or for a pull request.
@Suite struct DeployTests {
    static func job(_ yaml: String, env: [String: String]) throws -> JobSpec {
        var spec = try #require(try expand(yaml).jobs.first)
        spec.env = env.sorted { $0.key < $1.key }.map { EnvVar(name: $0.key, value: $0.value) } + spec.env
        return spec
    }

    static let config = """
        language: shell
        script: echo tested
        before_deploy: echo before-deploy-ran
        after_deploy: echo after-deploy-ran
        after_script: echo after-script-ran
        deploy:
          - provider: script
            script: echo deployed-$TRAVIS_BRANCH
            on:
              branch: release
          - provider: script
            script: echo tag-deployed-$TRAVIS_TAG
            on:
              tags: true
              condition: $DEPLOY_OK = yes
        """

    @Test func parsesEntriesAndPhases() throws {
        let deploy = try #require(try expand(Self.config).jobs.first?.deploy)
        #expect(deploy.entries.count == 2)
        #expect(deploy.entries[0].provider == "script")
        #expect(deploy.entries[0].branches == ["release"])
        #expect(deploy.entries[1].tags == true)
        #expect(deploy.entries[1].conditions == ["$DEPLOY_OK = yes"])
        #expect(deploy.beforeDeploy == ["echo before-deploy-ran"])
        #expect(deploy.afterDeploy == ["echo after-deploy-ran"])
        #expect(try expand("script: true\ndeploy:\n  provider: script\n  script: x\n  skip_cleanup: false").jobs[0].deploy?.entries[0].cleanup == true)
        #expect(try expand("script: true").jobs[0].deploy == nil)
    }

    @Test func deploysOnTheMatchingBranchInTravisOrder() throws {
        let run = try ScriptRunner.run(try Self.job(Self.config, env: ["TRAVIS_BRANCH": "release", "TRAVIS_PULL_REQUEST": "false"]))
        #expect(run.status == 0)
        #expect(run.output.contains("deployed-release"))
        #expect(!run.output.contains("tag-deployed"))
        #expect(run.output.contains("Skipping a deployment with the script provider because its conditions are not met"))
        let order = ["tested", "before-deploy-ran", "deployed-release", "after-deploy-ran", "after-script-ran"].map { run.output.range(of: $0)?.lowerBound }
        #expect(order.allSatisfy { $0 != nil })
        #expect(order.compactMap { $0 } == order.compactMap { $0 }.sorted())
    }

    @Test func tagsAndConditions() throws {
        let tagged = try ScriptRunner.run(try Self.job(Self.config, env: ["TRAVIS_BRANCH": "v1.0", "TRAVIS_TAG": "v1.0", "DEPLOY_OK": "yes"]))
        #expect(tagged.output.contains("tag-deployed-v1.0"))
        #expect(!tagged.output.contains("deployed-v1.0\n") || tagged.output.contains("tag-deployed-v1.0"))
        let refused = try ScriptRunner.run(try Self.job(Self.config, env: ["TRAVIS_BRANCH": "v1.0", "TRAVIS_TAG": "v1.0", "DEPLOY_OK": "no"]))
        #expect(!refused.output.contains("tag-deployed"))
        #expect(!refused.output.contains("before-deploy-ran"))
    }

    @Test func neverAfterAFailedScriptOrForAPullRequest() throws {
        let failed = try ScriptRunner.run(try Self.job(Self.config.replacingOccurrences(of: "script: echo tested", with: "script: false"),
                                                       env: ["TRAVIS_BRANCH": "release"]))
        #expect(failed.status == 1)
        #expect(!failed.output.contains("deployed-release"))
        let pullRequest = try ScriptRunner.run(try Self.job(Self.config, env: ["TRAVIS_BRANCH": "release", "TRAVIS_PULL_REQUEST": "7"]))
        #expect(pullRequest.status == 0)
        #expect(!pullRequest.output.contains("deployed-release"))
    }

    @Test func aFailingDeployOrAnUnsupportedProviderFailsTheJob() throws {
        let failing = try ScriptRunner.run(try Self.job("""
            script: true
            deploy:
              provider: script
              script: (exit 4)
              on:
                all_branches: true
            """, env: ["TRAVIS_BRANCH": "any"]))
        #expect(failing.status == 1)
        #expect(failing.output.contains("Failed to deploy."))
        let heroku = try ScriptRunner.run(try Self.job("script: true\ndeploy:\n  provider: heroku\n  on:\n    all_branches: true", env: ["TRAVIS_BRANCH": "x"]))
        #expect(heroku.status == 1)
        #expect(heroku.output.contains("deploy provider heroku is not supported here; use provider: script"))
    }

    @Test func defaultBranchesAndDeployStages() throws {
        let yaml = """
            language: shell
            jobs:
              include:
                - stage: test
                  script: echo testing
                - stage: deploy
                  script: skip
                  deploy:
                    provider: script
                    script: echo shipping
            """
        let expanded = try expand(yaml)
        #expect(expanded.stages == ["test", "deploy"])
        #expect(expanded.jobs[0].deploy == nil)
        let deployJob = try #require(expanded.jobs.last)
        var spec = deployJob
        spec.env = [EnvVar(name: "TRAVIS_BRANCH", value: "main")]
        let run = try ScriptRunner.run(spec)
        #expect(run.status == 0)
        #expect(run.output.contains("shipping"))
    }
}
