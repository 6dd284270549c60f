import Testing
@testable import ConveyorModel

/// Ruby regexes on PCRE2, bounded.
@Suite struct RegexTests {
    private func matches(_ value: String, _ pattern: String, flags: String = "") throws -> Bool {
        try RegexMatch.matches(value, pattern: pattern, flags: flags)
    }

    @Test func catastrophicBacktrackingIsAnErrorNotAHang() {
        let value = String(repeating: "a", count: 40) + "b"
        do {
            _ = try RegexMatch.matches(value, pattern: "^(a+)+$")
            Issue.record("the match must hit its limit")
        } catch {
            #expect(error.message == "regex /^(a+)+$/ exceeded its match limit (too much backtracking on a value of 41 bytes)")
        }
    }

    @Test func aConditionThatBacktracksMakesTheConfigInvalid() {
        let value = String(repeating: "a", count: 40) + "!"
        let yaml = """
            language: shell
            env:
              global:
                - X=\(value)
            if: env(X) =~ /^(a+)+$/
            """
        #expect(expansionError(yaml)?.message.contains("exceeded its match limit") == true)
    }

    @Test func aBranchRuleThatBacktracksMakesTheConfigInvalid() {
        let branch = String(repeating: "a", count: 40) + "!"
        do {
            _ = try ConfigExpander.expand(yaml: "branches:\n  only: [\"/^(a+)+$/\"]\n", context: pushContext(branch: branch))
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("exceeded its match limit"))
        }
    }

    @Test func rubyHexDigitClass() throws {
        #expect(try matches("deadBEEF09", #"\A\h+\z"#))
        #expect(try !matches(" \t", #"\h"#), "\\h is a hex digit in Ruby, not horizontal space")
        #expect(try matches("g", #"\H"#))
        #expect(try !matches("a", #"\H"#))
        #expect(try matches("-", #"[\h-]"#))
        #expect(try matches("f", #"[x\h]"#))
        #expect(try !matches("z", #"[\h]"#))
        #expect(try matches("z", #"[\H]"#))
    }

    @Test func rubyAnchors() throws {
        #expect(try matches("abc\n", #"c\Z"#))
        #expect(try !matches("abc\n", #"c\z"#))
        #expect(try matches("abc", #"\Aabc\z"#))
        // ^ and $ are line anchors in Ruby, always.
        #expect(try matches("first\nrelease-1", "^release-"))
        #expect(try matches("v1\nnext", "^v1$"))
    }

    @Test func namedGroupsAndBackreferences() throws {
        #expect(try matches("2024-2024", #"(?<year>\d{4})-\k<year>"#))
        #expect(try !matches("2024-2025", #"(?<year>\d{4})-\k<year>"#))
    }

    @Test func rubyFlags() throws {
        #expect(try matches("Release-1", "^release", flags: "i"))
        #expect(try !matches("Release-1", "^release"))
        // Ruby's m: the dot matches a newline.
        #expect(try matches("a\nb", "a.b", flags: "m"))
        #expect(try !matches("a\nb", "a.b"))
        #expect(try matches("a\nb", "(?m:a.b)"))
        #expect(try matches("ab", "a b # spaces and comments ignored", flags: "x"))
    }

    @Test func unicodeEscapes() throws {
        #expect(try matches("café", #"caf\u00e9"#))
        #expect(try matches("café", #"caf\u{e9}"#))
        #expect(try matches("é", "^.$"), "a dot is one character, not one byte")
    }

    @Test func invalidPatternsNameTheirPosition() {
        #expect(throws: ConfigError.self) { try RegexMatch.validate("a(b") }
        do {
            try RegexMatch.validate("ab(c")
        } catch {
            #expect(error.message.hasPrefix("invalid regular expression /ab(c/: "), "\(error)")
            #expect(error.message.contains("at character"), "\(error)")
        }
        do {
            try RegexMatch.validate("[a-z&&[^aeiou]]")
        } catch {
            #expect(error.message.contains("at character"), "\(error)")
        }
        do {
            try RegexMatch.validate(#"x\u12"#)
        } catch {
            #expect(error.message == #"invalid regular expression /x\u12/: an invalid \u escape (four hex digits expected) at character 2"#)
        }
    }

    @Test func conditionRegexWithFlags() throws {
        let context = pushContext(branch: "Release-2")
        #expect(try Condition.parse("branch =~ /^release-\\d+$/i").evaluate(context: context, env: []))
        #expect(try !Condition.parse("branch =~ /^release-\\d+$/").evaluate(context: context, env: []))
        #expect(throws: ConfigError.self) { try Condition.parse("branch =~ /a(/") }
    }

    @Test func branchRegexWithFlags() throws {
        let yaml = "language: shell\nbranches:\n  only: [\"/^release/i\"]\n"
        #expect(try ConfigExpander.expand(yaml: yaml, context: pushContext(branch: "RELEASE-1")).skipped == nil)
        #expect(try ConfigExpander.expand(yaml: yaml, context: pushContext(branch: "main")).skipped != nil)
        let invalid = try ConfigExpander.expand(yaml: "branches:\n  only: [\"/a(/\", main]\n", context: pushContext())
        #expect(invalid.skipped == nil)
        #expect(invalid.warnings.contains { $0.hasPrefix("invalid branch pattern /a(/ ignored: invalid regular expression") })
    }
}
