import Foundation
import Testing
@testable import ConveyorModel

@Suite struct BadInputTests {
    @Test func invalidYAMLReportsLineAndColumn() {
        let error = expansionError("language: ruby\nscript:\n  - a\n - b: [\n")
        #expect(error?.line != nil)
        #expect(error?.column != nil)
        #expect(error?.description.hasPrefix("invalid YAML at line") == true)
    }

    @Test func tabIndentationIsInvalidYAML() {
        let error = expansionError("script:\n\t- make")
        #expect(error?.message.hasPrefix("invalid YAML") == true)
        #expect(error?.line == 2)
    }


    @Test func topLevelMustBeAMapping() {
        #expect(expansionError("- a\n- b")?.message == "config must be a mapping of keys to values at the top level")
        #expect(expansionError("just a string")?.message == "config must be a mapping of keys to values at the top level")
    }

    @Test func billionLaughsIsRejectedQuickly() {
        var yaml = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        for level in 1...9 {
            let refs = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
            yaml += "a\(level): &a\(level) [\(refs)]\n"
        }
        yaml += "script: *a9\n"
        let start = Date()
        let error = expansionError(yaml)
        #expect(error?.message.contains("with its aliases expanded") == true)
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func aliasOfACollectionAsMappingKeyIsRejected() {
        let yaml = "a: &a [x, y]\n*a : 1\n"
        #expect(expansionError(yaml)?.message == "mapping keys must be plain strings")
        // Aliases as values and globs in commands are fine.
        #expect(expansionError("x: &a make\nscript: [*a, 'ls *.txt', echo *foo]\n") == nil)
    }

    @Test func tenMegabyteConfigRejectedBeforeParsing() {
        let yaml = "script:\n" + String(repeating: "  - echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", count: 180_000)
        let start = Date()
        let error = expansionError(yaml)
        #expect(error?.message.hasPrefix("config is \(yaml.utf8.count) bytes, more than the maximum of 1048576 bytes") == true)
        #expect(Date().timeIntervalSince(start) < 2)
    }

    @Test func deepNestingIsRejected() {
        let flow = "a: " + String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect(expansionError(flow)?.message.contains("deeper than the maximum of 64") == true)
        let veryDeep = "a: " + String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000)
        #expect(expansionError(veryDeep) != nil)
        var block = "a:\n"
        for level in 1...100 { block += String(repeating: " ", count: level) + "k\(level):\n" }
        #expect(expansionError(block)?.message.contains("deeper") == true)
    }

    @Test func invalidUTF8IsRejected() {
        let bytes: [UInt8] = Array("script: echo ".utf8) + [0xFF, 0xFE] + Array("\n".utf8)
        do {
            _ = try ConfigExpander.expand(yamlData: bytes, context: pushContext())
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "config is not valid UTF-8 text (first bad byte at offset 13)")
        }
    }

    @Test func validUTF8BytesExpand() throws {
        let build = try ConfigExpander.expand(yamlData: Array("script: echo héllo\n".utf8), context: pushContext())
        #expect(build.jobs[0].phases[.script] == ["echo héllo"])
    }

    @Test func nonStringKeysAndOddValuesDoNotCrash() throws {
        #expect(expansionError("? [a, b]\n: c\n")?.message == "mapping keys must be plain strings")
        let build = try expand("script: {weird: mapping}\nservices: 7\nenv: [[A=1], 3]\nlanguage: [ruby, python]")
        #expect(build.jobs.count >= 1)
        #expect(build.warnings.contains { $0.contains("language takes one value") })
    }

    @Test func overrideConfigIsLimitedToo() {
        var limits = ConfigLimits()
        limits.maxConfigBytes = 100
        #expect(throws: ConfigError.self) {
            try ConfigExpander.expand(yaml: "script: x", context: pushContext(), limits: limits,
                                      overrides: "script: " + String(repeating: "y", count: 200))
        }
    }
}
