@testable import ConveyorModel
import Foundation
import Testing

/// Secure values kept sealed at expansion and opened by the worker; the fork rule; `encrypt --add`.
@Suite struct SealedEnvTests {
    static let config = """
        language: shell
        env:
          global:
            - secure: "cipher-1"
            - NAMED: {secure: "cipher-2"}
            - PLAIN=1
        script: x
        """

    static func opener(_ table: [String: String]) -> SealedEnv.Opener { { _, sealed in table[sealed] } }

    @Test func expansionKeepsSecureValuesSealedWithoutAWarning() throws {
        let build = try ConfigExpander.expand(yaml: Self.config, context: pushContext(), keepSecureValuesSealed: true)
        #expect(build.jobs[0].env == [EnvVar(name: "", value: "cipher-1", secure: true, sealed: .repositoryKey),
                                      EnvVar(name: "NAMED", value: "cipher-2", secure: true, sealed: .repositoryKey),
                                      EnvVar(name: "PLAIN", value: "1", expandsVariables: true)])
        #expect(build.warnings.isEmpty)
        #expect(build.jobs[0].expandedJSON()["env"] == .array([.string("[secure]"), .string("NAMED=[secure]"), .string("PLAIN=1")]))
    }

    @Test func aSealedSpecSurvivesItsJSONRoundTrip() throws {
        let build = try ConfigExpander.expand(yaml: Self.config, context: pushContext(), keepSecureValuesSealed: true)
        let decoded = try JSONDecoder().decode(JobSpec.self, from: try JSONEncoder().encode(build.jobs[0]))
        #expect(decoded == build.jobs[0])
    }

    @Test func theWorkerOpensEachKindWithItsOwnOpener() {
        let env = [EnvVar(name: "SETTING", value: "sealed-s", secure: true, sealed: .clusterKey),
                   EnvVar(name: "", value: "cipher-1", secure: true, sealed: .repositoryKey),
                   EnvVar(name: "NAMED", value: "cipher-2", secure: true, sealed: .repositoryKey),
                   EnvVar(name: "PLAIN", value: "1")]
        var clusterNames: [String] = []
        let opened = SealedEnv.open(env, repositoryKey: Self.opener(["cipher-1": "TOKEN=s3cr3t OTHER='two words'", "cipher-2": "hunter2"]),
                                    clusterKey: { name, sealed in clusterNames.append(name); return sealed == "sealed-s" ? "from-settings" : nil })
        #expect(opened.env == [EnvVar(name: "SETTING", value: "from-settings", secure: true),
                               EnvVar(name: "TOKEN", value: "s3cr3t", secure: true),
                               EnvVar(name: "OTHER", value: "two words", secure: true),
                               EnvVar(name: "NAMED", value: "hunter2", secure: true),
                               EnvVar(name: "PLAIN", value: "1")])
        #expect(opened.notices.isEmpty)
        #expect(clusterNames == ["SETTING"], "the variable's name is part of what its sealing authenticates")
    }

    @Test func whatCannotBeOpenedIsLeftOutWithAReason() {
        let env = [EnvVar(name: "A", value: "bad", secure: true, sealed: .repositoryKey),
                   EnvVar(name: "", value: "not-an-assignment", secure: true, sealed: .repositoryKey),
                   EnvVar(name: "S", value: "x", secure: true, sealed: .clusterKey)]
        let opened = SealedEnv.open(env, repositoryKey: Self.opener(["not-an-assignment": "just text"]), clusterKey: nil)
        #expect(opened.env.isEmpty)
        #expect(opened.notices == ["secure env var A left out: it could not be decrypted",
                                   "a secure env var left out: it is not NAME=value",
                                   "secure env var S left out: no secrets_key is configured on this worker"])
        let noKey = SealedEnv.open([env[0]], repositoryKey: nil, clusterKey: nil)
        #expect(noKey.notices == ["secure env var A left out: the repository has no key pair"])
        #expect(!noKey.notices.joined().contains("bad"), "a notice never holds the value")
    }

    @Test func settingsVariablesComeFirstAndAForkGetsNoSealedOne() throws {
        let jobs = try ConfigExpander.expand(yaml: Self.config, context: pushContext(), keepSecureValuesSealed: true).jobs
        let settings = [EnvVar(name: "PUBLIC", value: "p"), EnvVar(name: "SECRET", value: "cvs1:x", secure: true, sealed: .clusterKey)]
        let push = SealedEnv.prepare(jobs, settingsEnv: settings, origin: nil)
        #expect(push[0].env.map(\.displayText) == ["PUBLIC=p", "SECRET=[secure]", "[secure]", "NAMED=[secure]", "PLAIN=1"])
        #expect(push[0].secretsWithheld == nil)
        let same = SealedEnv.prepare(jobs, settingsEnv: settings, origin: .sameRepository)
        #expect(same[0].env.count == 5)
        let fork = SealedEnv.prepare(jobs, settingsEnv: settings, origin: .fork(head: "mallory/repo"))
        #expect(fork[0].env.map(\.displayText) == ["PUBLIC=p", "PLAIN=1"])
        #expect(fork[0].secretsWithheld?.contains("comes from a fork (mallory/repo)") == true)
    }

    @Test func theNoticeNamesTheFork() {
        #expect(PullRequestOrigin.sameRepository.withheldNotice == nil)
        #expect(PullRequestOrigin.fork(head: nil).withheldNotice?.contains("comes from a fork. TRAVIS_SECURE_ENV_VARS=false") == true)
        #expect(PullRequestOrigin.fork(head: "a/b").isFork)
    }

    @Test func encryptAddAppendsToEnvGlobal() throws {
        let plain = "language: shell\nenv:\n  global:\n    - A=1\nscript: x\n"
        let added = try SecureValueInsertion.add(ciphertext: "Zm9v", at: "env.global", to: plain)
        let build = try ConfigExpander.expand(yaml: added, context: pushContext(), keepSecureValuesSealed: true)
        #expect(build.jobs[0].env.map(\.value) == ["1", "Zm9v"])
        #expect(added.hasPrefix("language: shell\n"), "keys keep their order")
        // `env` as a list (the matrix) is kept under `jobs`; a config without env gets one.
        let matrix = try SecureValueInsertion.add(ciphertext: "YmFy", at: "env.global", to: "env:\n  - A=1\n  - A=2\nscript: x\n")
        let jobs = try ConfigExpander.expand(yaml: matrix, context: pushContext(), keepSecureValuesSealed: true).jobs
        #expect(jobs.map { $0.env.map(\.displayText) } == [["[secure]", "A=1"], ["[secure]", "A=2"]])
        let fresh = try SecureValueInsertion.add(ciphertext: "YmF6", at: "env.global", to: "")
        #expect(try ConfigExpander.expand(yaml: fresh + "script: x\n", context: pushContext(), keepSecureValuesSealed: true).jobs[0].env.count == 1)
        #expect(throws: ConfigError.self) { try SecureValueInsertion.add(ciphertext: "x", at: "env..global", to: plain) }
    }
}
