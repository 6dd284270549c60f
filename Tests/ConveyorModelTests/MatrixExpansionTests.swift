import Foundation

import Testing
@testable import ConveyorModel

@Suite struct MatrixExpansionTests {
    @Test func emptyConfigIsOneDefaultRubyJob() throws {
        let build = try expand("")
        #expect(build.jobs.count == 1)
        #expect(build.jobs[0].language == "ruby")
        #expect(build.jobs[0].os == "linux")
        #expect(build.jobs[0].phases[.script] == ["rake"])
        #expect(build.jobs[0].number == 1)
        #expect(build.jobs[0].stage == nil)
        #expect(build.skipped == nil)
    }

    @Test func cartesianProductNestsKeysInOrder() throws {
        let build = try expand("""
            language: ruby
            rvm: [2.7, "3.0"]
            gemfile: [a.gemfile, b.gemfile]
            env: [DB=pg, DB=mysql]
            """)
        #expect(build.jobs.count == 8)
        #expect(build.jobs.map(\.number) == Array(1...8))
        #expect(build.jobs[0].key("rvm") == "2.7")
        #expect(build.jobs[0].key("gemfile") == "a.gemfile")
        #expect(build.jobs[0].envText == ["DB=pg"])
        #expect(build.jobs[1].envText == ["DB=mysql"])
        #expect(build.jobs[2].key("gemfile") == "b.gemfile")
        #expect(build.jobs[4].key("rvm") == "3.0")
    }

    @Test func osAndArchExpand() throws {
        let build = try expand("""
            language: shell
            os: [linux, osx]
            arch: [amd64, arm64]
            """)
        // travis-yml: arch is a linux key, so osx gets one job without it.
        #expect(build.jobs.map { "\($0.os)/\($0.arch ?? "")" } == ["linux/amd64", "linux/arm64", "osx/"])
        #expect(build.jobs[0].phases[.script] == nil)
    }

    @Test func versionKeysKeepTheirText() throws {
        let build = try expand("language: python\npython: [3.10, 3.9]")
        #expect(build.jobs.map { $0.key("python") } == ["3.10", "3.9"])
    }

    @Test func includeReplacesLoneDefaultJob() throws {
        let build = try expand("""
            language: ruby
            rvm: 3.2
            jobs:
              include:
                - rvm: 3.3
                - env: X=1
            """)
        #expect(build.jobs.count == 2)
        #expect(build.jobs[0].key("rvm") == "3.3")
        #expect(build.jobs[1].key("rvm") == "3.2")
        #expect(build.jobs[1].envText == ["X=1"])
    }

    @Test func includeAppendsToRealMatrixAndInheritsFirstValues() throws {
        let build = try expand("""
            language: node_js
            node_js: [18, 20]
            os: [linux, osx]
            matrix:
              include:
                - os: windows
            """)
        #expect(build.jobs.count == 5)
        #expect(build.jobs[4].os == "windows")
        #expect(build.jobs[4].key("node_js") == "18")
    }

    @Test func includeInheritsRootPhasesAndOverridesThem() throws {
        let build = try expand("""
            language: shell
            script: make test
            install: make deps
            jobs:
              include:
                - name: lint
                  script: make lint
                - name: unit
            """)
        #expect(build.jobs.count == 2)
        #expect(build.jobs[0].name == "lint")
        #expect(build.jobs[0].phases[.script] == ["make lint"])
        #expect(build.jobs[0].phases[.install] == ["make deps"])
        #expect(build.jobs[1].phases[.script] == ["make test"])
    }

    @Test func excludeRemovesMatchingJobsBySubset() throws {
        let build = try expand("""
            language: ruby
            rvm: ["3.1", "3.2"]
            gemfile: [a, b]
            jobs:
              exclude:
                - rvm: "3.1"
                  gemfile: b
            """)
        #expect(build.jobs.count == 3)
        #expect(!build.jobs.contains { $0.key("rvm") == "3.1" && $0.key("gemfile") == "b" })
        #expect(build.jobs.map(\.number) == [1, 2, 3])
    }

    @Test func excludeMatchesEnv() throws {
        let build = try expand("""
            language: ruby
            rvm: ["3.1", "3.2"]
            env: [A=1, A=2]
            jobs:
              exclude:
                - rvm: "3.2"
                  env: A=2
            """)
        #expect(build.jobs.count == 3)
        #expect(!build.jobs.contains { $0.key("rvm") == "3.2" && $0.envText == ["A=2"] })
    }

    @Test func identicalJobsAreDeduplicated() throws {
        let build = try expand("""
            language: ruby
            rvm: ["3.1", "3.2"]
            jobs:
              include:
                - rvm: "3.1"
            """)
        #expect(build.jobs.count == 2)
    }

    @Test func allowFailuresMatchByKeyNameAndEnv() throws {
        let build = try expand("""
            language: ruby
            rvm: ["3.2", ruby-head]
            jobs:
              include:
                - name: docs
                  rvm: "3.2"
                  script: rake doc
              allow_failures:
                - rvm: ruby-head
                - name: docs
              fast_finish: true
            """)
        #expect(build.fastFinish)
        #expect(build.jobs.map(\.allowFailure) == [false, true, true])
    }

    @Test func languageSpecificKeysIgnoredForOtherLanguages() throws {
        let build = try expand("language: python\npython: ['3.12']\nrvm: ['3.2', '3.3']")
        #expect(build.jobs.count == 1)
        #expect(build.jobs[0].key("rvm") == nil)
        #expect(build.warnings.contains("rvm is ignored for language python"))
    }

    @Test func defaultScriptsFollowLanguage() throws {
        #expect(try expand("language: node_js").jobs[0].phases[.script] == ["npm test"])
        #expect(try expand("language: go").jobs[0].phases[.script] == ["go test -v ./..."])
        #expect(try expand("language: python").jobs[0].phases[.script] == ["pytest"])
        #expect(try expand("language: generic").jobs[0].phases[.script] == nil)
    }

    @Test func phasesServicesAndGitDepth() throws {
        let job = try expand("""
            language: shell
            before_install: echo one
            install: skip
            script: [make, make check]
            after_failure: cat log
            services: [postgresql, redis]
            git:
              depth: 3
            """).jobs[0]
        #expect(job.phases[.beforeInstall] == ["echo one"])
        #expect(job.phases[.install] == nil)
        #expect(job.phases[.script] == ["make", "make check"])
        #expect(job.phases[.afterFailure] == ["cat log"])
        #expect(job.services == ["postgresql", "redis"])
        #expect(job.gitDepth == 3)
        #expect(try expand("git: {depth: false}").jobs[0].gitDepth == 0)
        #expect(try expand("language: shell").jobs[0].gitDepth == 50)
    }

    @Test func jobsAsListIsInclude() throws {
        let build = try expand("jobs:\n  - script: a\n  - script: b")
        #expect(build.jobs.map { $0.phases[.script] ?? [] } == [["a"], ["b"]])
    }

    @Test func mergeKeysAndAnchorsAreExpanded() throws {
        let build = try expand("""
            language: shell
            _defaults: &defaults
              script: make
              os: osx
            jobs:
              include:
                - <<: *defaults
                  name: one
                - <<: *defaults
                  os: linux
            """)
        #expect(build.jobs.map(\.os) == ["osx", "linux"])
        #expect(build.jobs.allSatisfy { $0.phases[.script] == ["make"] })
        #expect(build.warnings.contains("unknown key _defaults ignored"))
    }

    @Test func unknownTopLevelKeysWarn() throws {
        let build = try expand("langauge: ruby\nscript: rake")
        #expect(build.warnings == ["unknown key langauge ignored"])
    }

    @Test func overridesDeepMergeOverRepoConfig() throws {
        let build = try expand("""
            language: shell
            env:
              global: [A=1]
            script: make
            git: {depth: 5}
            """, overrides: "script: make special\ngit: {submodules: false}")
        #expect(build.jobs[0].phases[.script] == ["make special"])
        #expect(build.jobs[0].gitDepth == 5)
        #expect(build.jobs[0].envText == ["A=1"])
    }

    @Test func expandOutputJSONShape() throws {
        let build = try expand("language: ruby\nrvm: '3.3'\nenv: A=1")
        let json = build.expandOutputJSON()
        #expect(json["fast_finish"] == .bool(false))
        #expect(json["skipped"] == .null)
        let job = try #require(json["jobs"]?.arrayValue?.first)
        #expect(job["rvm"] == .string("3.3"))
        #expect(job["env"] == .array([.string("A=1")]))
        #expect(job["allow_failure"] == .bool(false))
        #expect(job["stage"] == .null)
        #expect(json.jsonText().contains("\"fast_finish\":false"))
    }

    @Test func tooManyJobsIsAnError() {
        let error = expansionError("""
            language: node_js
            node_js: [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]
            os: [a,b,c,d,e,f,g,h,i,j,k,l,m,n,o]
            """)
        #expect(error?.message == "build matrix expands to 225 jobs, more than the maximum of 200")
    }

    @Test func hugeProductRejectedWithoutMaterializing() {
        let values = "[" + (1...60).map(String.init).joined(separator: ",") + "]"
        let error = expansionError("os: \(values)\narch: \(values)\ndist: \(values)\nenv: \(values.replacingOccurrences(of: ",", with: ", A="))")
        #expect(error?.message.hasPrefix("build matrix expands to") == true)
    }
}
