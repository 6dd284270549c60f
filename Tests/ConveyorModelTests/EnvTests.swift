import Testing
@testable import ConveyorModel

@Suite struct EnvTests {
    @Test func stringWithSeveralVarsAndQuotes() {
        let parsed = EnvAssignments.parse(#"A=1 B="two words" C='$HOME' D=$HOME/bin E=x\ y"#)
        #expect(parsed.vars.map(\.name) == ["A", "B", "C", "D", "E"])
        #expect(parsed.vars.map(\.value) == ["1", "two words", "$HOME", "$HOME/bin", "x y"])
        #expect(parsed.vars.map(\.expandsVariables) == [true, true, false, true, true])
        #expect(parsed.invalid.isEmpty)
    }

    @Test func invalidWordsAreReported() {
        let parsed = EnvAssignments.parse("FOO 1X=2 OK=3 =4")
        #expect(parsed.vars == [EnvVar(name: "OK", value: "3", expandsVariables: true)])
        #expect(parsed.invalid == ["FOO", "1X=2", "=4"])
    }

    @Test func globalIsPrependedToEveryJob() throws {
        let build = try expand("""
            language: shell
            env:
              global:
                - CI_NAME=conveyor GLOBAL=1
              jobs:
                - JOB=a
                - JOB=b OTHER=c
            """)
        #expect(build.jobs.map(\.envText) == [["CI_NAME=conveyor", "GLOBAL=1", "JOB=a"],
                                               ["CI_NAME=conveyor", "GLOBAL=1", "JOB=b", "OTHER=c"]])
    }

    @Test func matrixIsAnAliasOfJobsInEnv() throws {
        let build = try expand("env:\n  matrix: [A=1, A=2]\nscript: x")
        #expect(build.jobs.count == 2)
    }

    @Test func hashFormAndSingleString() throws {
        #expect(try expand("env: {B: 2, A: one}\nscript: x").jobs[0].envText == ["B=2", "A=one"])
        #expect(try expand("env: A=1 B=2\nscript: x").jobs.map(\.envText) == [["A=1", "B=2"]])
    }

    @Test func secureWithoutKeyIsLeftOutWithWarning() throws {
        let build = try expand("""
            language: shell
            env:
              global:
                - secure: "c2VjcmV0"
                - PLAIN=1
            """)
        #expect(build.jobs[0].envText == ["PLAIN=1"])
        #expect(build.warnings.contains("a secure env var left out: no decryption key is configured"))
    }

    @Test func secureIsDecryptedWhenAKeyIsConfigured() throws {
        let build = try expand("""
            language: shell
            env:
              global:
                - secure: "cipher-1"
                - NAMED: {secure: "cipher-2"}
            """, decrypt: { cipher in
                switch cipher {
                case "cipher-1": return "TOKEN=s3cr3t"
                case "cipher-2": return "hunter2"
                default: return nil
                }
            })
        let env = build.jobs[0].env
        #expect(env == [EnvVar(name: "TOKEN", value: "s3cr3t", secure: true),
                        EnvVar(name: "NAMED", value: "hunter2", secure: true)])
        #expect(build.jobs[0].expandedJSON()["env"] == .array([.string("TOKEN=[secure]"), .string("NAMED=[secure]")]))
        #expect(build.warnings.isEmpty)
    }

    @Test func undecryptableSecureWarns() throws {
        let build = try expand("env: {TOKEN: {secure: zzz}}\nscript: x", decrypt: { _ in nil })
        #expect(build.jobs[0].env.isEmpty)
        #expect(build.warnings == ["secure env var TOKEN left out: it could not be decrypted"])
    }

    @Test func includeEnvAndAllowFailuresByEnv() throws {
        let build = try expand("""
            language: shell
            env:
              global: [G=1]
            jobs:
              include:
                - env: A=1
                - env: [A=2, B=3]
              allow_failures:
                - env: B=3
            """)
        #expect(build.jobs.map(\.envText) == [["G=1", "A=1"], ["G=1", "A=2", "B=3"]])
        #expect(build.jobs.map(\.allowFailure) == [false, true])
    }
}
