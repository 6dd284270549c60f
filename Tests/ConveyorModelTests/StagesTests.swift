import Testing
@testable import ConveyorModel

@Suite struct StagesTests {
    private let yaml = """
        language: ruby
        rvm: ["3.2", "3.3"]
        stages:
          - test
          - name: deploy
            if: branch = main
        jobs:
          include:
            - stage: lint
              script: rubocop
            - stage: deploy
              script: cap deploy
            - script: cap notify
        """

    @Test func jobsGetStagesAndRunInStageOrder() throws {
        let build = try expand(yaml)
        #expect(build.stages == ["test", "deploy", "lint"])
        #expect(build.jobs.map { $0.stage ?? "-" } == ["test", "test", "deploy", "deploy", "lint"])
        #expect(build.jobs.map(\.stageIndex) == [0, 0, 1, 1, 2])
        #expect(build.jobs.map(\.number) == [1, 2, 3, 4, 5])
        // The include without a stage inherits the previous include's stage.
        #expect(build.jobs[3].phases[.script] == ["cap notify"])
    }

    @Test func stageConditionRemovesTheStageAndItsJobs() throws {
        let build = try expand(yaml, context: pushContext(branch: "dev"))
        #expect(build.stages == ["test", "lint"])
        #expect(build.jobs.map(\.stageIndex) == [0, 0, 1])
        #expect(!build.jobs.contains { $0.stage == "deploy" })
    }

    @Test func firstIncludeWithoutStageIsTest() throws {
        let build = try expand("""
            language: shell
            jobs:
              include:
                - script: a
                - stage: Deploy
                  script: b
            """)
        #expect(build.stages == ["test", "Deploy"])
        #expect(build.jobs.map(\.stage) == ["test", "Deploy"])
    }

    @Test func noStagesMeansNilStage() throws {
        let build = try expand("language: ruby\nrvm: ['3.2', '3.3']")
        #expect(build.stages.isEmpty)
        #expect(build.jobs.allSatisfy { $0.stage == nil && $0.stageIndex == 0 })
    }

    @Test func allowFailuresAndExcludeMatchStage() throws {
        let build = try expand("""
            language: shell
            jobs:
              include:
                - stage: test
                  script: a
                - stage: experimental
                  script: b
                - stage: experimental
                  script: c
              exclude:
                - stage: experimental
                  script: c
              allow_failures:
                - stage: Experimental
            """)
        #expect(build.jobs.count == 2)
        #expect(build.jobs.map(\.allowFailure) == [false, true])
    }
}
