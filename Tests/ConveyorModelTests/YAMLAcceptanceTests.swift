import Foundation
import Testing
@testable import ConveyorModel
#if canImport(Glibc)
import Glibc
#endif

/// YAML as travis-yml accepts it (duplicate keys, merge keys), within byte, depth and job budgets.
@Suite struct YAMLAcceptanceTests {
    @Test func duplicateKeysKeepTheLastValueWithAWarning() throws {
        let build = try expand("language: shell\nscript: echo first\nscript: echo second\n")
        #expect(build.jobs.map { $0.phases[.script] } == [["echo second"]])
        #expect(build.warnings.contains("duplicate key script at line 3: the last value is used"))
    }

    @Test func nestedDuplicateKeysNameTheirLine() throws {
        let build = try expand("""
            language: shell
            jobs:
              include:
                - script: a
                  script: b
            """)
        #expect(build.jobs.map { $0.phases[.script] } == [["b"]])
        #expect(build.warnings.contains("duplicate key script at line 5: the last value is used"))
    }

    @Test func overrideWarningsAreNamed() throws {
        let build = try expand("script: a\n", overrides: "script: b\nscript: c\n")
        #expect(build.jobs.map { $0.phases[.script] } == [["c"]])
        #expect(build.warnings.contains("override config: duplicate key script at line 2: the last value is used"))
    }

    @Test func mergeKeyOwnKeysWin() throws {
        let value = try load("""
            base: &base {a: 1, b: 2}
            x:
              b: 3
              <<: *base
            """)
        #expect(value["x"] == .object(["a": .int(1), "b": .int(3)]))
    }

    @Test func mergeKeyListEarlierMappingsWin() throws {
        let value = try load("""
            one: &one {a: 1, b: 1}
            two: &two {b: 2, c: 2}
            x:
              <<: [*one, *two]
              d: 4
            """)
        #expect(value["x"] == .object(["a": .int(1), "b": .int(1), "c": .int(2), "d": .int(4)]))
    }

    @Test func repeatedMergeKeysAreAcceptedTheLaterOneWins() throws {
        let loaded = try YAMLLoader.loadDocument(text: """
            one: &one {a: 1, b: 1}
            two: &two {b: 2, c: 2}
            x:
              <<: *one
              <<: *two
              c: 3
            """, limits: ConfigLimits())
        #expect(loaded.value["x"] == .object(["a": .int(1), "b": .int(2), "c": .int(3)]))
        #expect(loaded.warnings.isEmpty, "a repeated << is not a duplicate key")
    }

    @Test func mergeKeysInJobIncludes() throws {
        let build = try expand("""
            language: shell
            _defaults: &defaults
              script: make test
              env: A=1
            jobs:
              include:
                - <<: *defaults
                  name: one
                - <<: *defaults
                  script: make lint
            """)
        #expect(build.jobs.map { $0.phases[.script] } == [["make test"], ["make lint"]])
    }

    @Test func mergeOfAScalarIsAnError() {
        #expect(expansionError("a: &a x\nb:\n  <<: *a\n")?.message == "a << merge key needs a mapping or a list of mappings")
    }

    @Test func aliasesAsKeys() throws {
        // An alias of a scalar is that text as a key; of a collection, refused.
        #expect(try load("k: &k name\nm: {*k : 1}\n")["m"] == .object(["name": .int(1)]))
        #expect(expansionError("a: &a [x, y]\n*a : 1\n")?.message == "mapping keys must be plain strings")
    }

    @Test func unknownAliasAndSecondDocumentAreErrors() {
        let unknown = expansionError("script: *nope\n")
        #expect(unknown?.message == "invalid YAML: alias *nope names no anchor before it")
        #expect(unknown?.line == 1)
        #expect(expansionError("script: a\n---\nscript: b\n")?.message == "invalid YAML: expected a single document, but found another")
    }

    @Test func nulInAValueIsRefusedWithItsPosition() {
        let error = expansionError("language: shell\nenv: \"A=x\\0y\"\n")
        #expect(error?.message.contains("NUL character") == true)
        #expect(error?.line == 2)
    }

    /// The issue's bomb: a 1 MB config of one large anchored string and its aliases. Refused at the
    /// first aliases past the byte budget, sharing (never copying) the string; memory measured as the
    /// growth of the process's peak RSS (a ceiling on what the expansion used).
    @Test func oneMegabyteAliasBombIsRefusedCheaply() throws {
        let anchor = String(repeating: "x", count: 900_000)
        var yaml = "script: [&a \"\(anchor)\""
        while yaml.utf8.count < 1_040_000 { yaml += ", *a" }
        yaml += "]\n"
        #expect(yaml.utf8.count <= ConfigLimits().maxConfigBytes)
        let before = peakRSSBytes()
        let clock = ContinuousClock.now
        let error = expansionError(yaml)
        let elapsed = ContinuousClock.now - clock
        let grown = peakRSSBytes() - before
        #expect(error?.message == "config expands to more than the maximum of 4194304 bytes with its aliases expanded")
        #expect(error?.line == 1)
        #expect(grown < 50 * 1_048_576, "peak RSS grew by \(grown) bytes")
        print("alias bomb (\(yaml.utf8.count) bytes): refused in \(elapsed), peak RSS +\(grown / 1024) KiB")
    }

    @Test func nestedAliasBombIsRefused() {
        var yaml = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...9 {
            let refs = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
            yaml += "a\(level): &a\(level) [\(refs)]\n"
        }
        yaml += "script: *a9\n"
        let before = peakRSSBytes()
        #expect(expansionError(yaml)?.message.contains("with its aliases expanded") == true)
        #expect(peakRSSBytes() - before < 50 * 1_048_576)
    }

    @Test func expandedByteBudgetIsConfigurable() {
        var limits = ConfigLimits()
        limits.maxExpandedBytes = 100
        let yaml = "a: &a \"\(String(repeating: "y", count: 40))\"\nscript: [*a, *a]\n"
        #expect(expansionError(yaml, limits: limits)?.message == "config expands to more than the maximum of 100 bytes with its aliases expanded")
        limits.maxExpandedBytes = 1000
        #expect(expansionError(yaml, limits: limits) == nil)
    }

    /// 100,000 `jobs.include` entries are refused before any job is drafted.
    @Test func hugeIncludeListIsRefusedBeforeDrafting() {
        let yaml = "language: shell\njobs:\n  include:\n" + String(repeating: "    - {}\n", count: 100_000)
        #expect(expansionError(yaml)?.message == "build matrix expands to 100000 jobs, more than the maximum of 200")
    }

    private func load(_ text: String) throws -> [String: JSONValue] {
        guard case .object(let object) = try YAMLLoader.load(text: text, limits: ConfigLimits()) else {
            throw ConfigError("not a mapping")
        }
        return object
    }
}

/// The process's peak resident set size so far, in bytes (Linux reports KiB).
func peakRSSBytes() -> Int {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return usage.ru_maxrss * 1024
}
