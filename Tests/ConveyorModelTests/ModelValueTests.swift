import Foundation
import Testing
@testable import ConveyorModel

@Suite struct ModelValueTests {
    @Test func configErrorDescriptionPlacesThePosition() {
        #expect(ConfigError("invalid YAML: bad indent", line: 3, column: 5).description
            == "invalid YAML at line 3, column 5: bad indent")
        #expect(ConfigError("too big").description == "too big")
        #expect(ConfigError("oops", line: 2).description == "oops at line 2")
    }

    @Test func jsonValueEncodesAsPlainJSONAndRoundTrips() throws {
        let value: JSONValue = .object(["a": .array([.int(1), .double(1.5), .bool(true), .null, .string("x")])])
        #expect(value.jsonText() == #"{"a":[1,1.5,true,null,"x"]}"#)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: Data(value.jsonText().utf8))
        #expect(decoded == value)
        #expect(JSONValue.string("s").stringValue == "s")
        #expect(JSONValue.int(3).doubleValue == 3)
        #expect(JSONValue.null.asList.isEmpty)
    }

    @Test func jobSpecCodableRoundTrip() throws {
        let spec = JobSpec(number: 2, stage: "test", name: "unit", keys: ["rvm": .string("3.3")],
                           env: [EnvVar(name: "A", value: "1", expandsVariables: true)],
                           phases: [.script: ["rake"], .beforeInstall: ["gem update"]], services: ["redis"])
        let data = try JSONEncoder().encode(spec)
        #expect(String(decoding: data, as: UTF8.self).contains("\"before_install\""))
        #expect(try JSONDecoder().decode(JobSpec.self, from: data) == spec)
    }

    @Test func envVarDecodesWithoutOptionalFields() throws {
        let envVar = try JSONDecoder().decode(EnvVar.self, from: Data(#"{"name":"A","value":"1"}"#.utf8))
        #expect(envVar == EnvVar(name: "A", value: "1"))
    }

    @Test func expandedJSONIncludesNameAndSecureEnv() {
        let job = JobSpec(stage: "deploy", allowFailure: true, name: "ship",
                          env: [EnvVar(name: "A", value: "1"), EnvVar(name: "T", value: "x", secure: true)])
        let json = job.expandedJSON()
        #expect(json["name"] == .string("ship"))
        #expect(json["stage"] == .string("deploy"))
        #expect(json["allow_failure"] == .bool(true))
        #expect(json["env"] == .array([.string("A=1"), .string("T=[secure]")]))
    }
}

@Suite struct MoreExpansionCases {
    @Test func includeCanAllowFailureItself() throws {
        let build = try expand("language: shell\njobs:\n  include:\n    - script: a\n    - script: b\n      allow_failure: true")
        #expect(build.jobs.map(\.allowFailure) == [false, true])
    }

    @Test func matrixAliasWithExcludeByEnvList() throws {
        let build = try expand("""
            language: python
            python: ["3.11", "3.12"]
            env:
              - DJANGO=4 DB=sqlite
              - DJANGO=5 DB=sqlite
            matrix:
              exclude:
                - python: "3.11"
                  env: DJANGO=5 DB=sqlite
              fast_finish: true
            """)
        #expect(build.jobs.count == 3)
        #expect(build.fastFinish)
        #expect(build.jobs.map { $0.key("python") ?? "" } == ["3.11", "3.12", "3.12"])
    }

    @Test func includeOfAnotherLanguageDoesNotInheritForeignVersions() throws {
        let build = try expand("""
            language: ruby
            rvm: ["3.2", "3.3"]
            jobs:
              include:
                - language: node_js
                  node_js: 20
            """)
        #expect(build.jobs.count == 3)
        #expect(build.jobs[2].language == "node_js")
        #expect(build.jobs[2].key("rvm") == nil)
        #expect(build.jobs[2].key("node_js") == "20")
        #expect(build.jobs[2].phases[.script] == ["npm test"])
    }

    @Test func conditionOnIncludeSeesItsOS() throws {
        let build = try expand("""
            language: shell
            os: [linux, osx]
            jobs:
              include:
                - os: osx
                  script: mac-only
                  if: os = osx
                - os: linux
                  script: never
                  if: os = osx
            """)
        #expect(build.jobs.count == 3)
        #expect(build.jobs[2].phases[.script] == ["mac-only"])
    }

    @Test func skippedBuildStillReportsFastFinishAndWarnings() throws {
        let build = try expand("bogus: 1\njobs: {fast_finish: true}", context: pushContext(message: "[skip ci]"))
        #expect(build.jobs.isEmpty)
        #expect(build.fastFinish)
        #expect(build.warnings == ["unknown key bogus ignored"])
        #expect(build.expandOutputJSON()["skipped"] == .string("commit message contains [skip ci]"))
    }
}
