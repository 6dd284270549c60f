import Testing
@testable import ConveyorModel

@Suite struct ConditionTests {
    private func check(_ condition: String, _ context: BuildRequestContext = pushContext(),
                       env: [EnvVar] = [], keys: [String: JSONValue] = [:]) throws -> Bool {
        try Condition.parse(condition).evaluate(context: context, env: env, jobKeys: keys)
    }

    @Test func equalityAndInequality() throws {
        #expect(try check("branch = main"))
        #expect(try check("branch == main"))
        #expect(try !check("branch = master"))
        #expect(try check("branch != master"))
        #expect(try check("type = push"))
        #expect(try check("repo = owner/repo"))
    }

    @Test func quotedStrings() throws {
        let context = pushContext(branch: "feature x")
        #expect(try check("branch = 'feature x'", context))
        #expect(try check(#"branch = "feature x""#, context))
    }

    @Test func regexMatchWithAndWithoutSlashes() throws {
        let context = pushContext(branch: "release/1.2")
        #expect(try check("branch =~ ^release/", context))
        #expect(try check("branch =~ /^release\\/\\d+\\.\\d+$/", context))
        #expect(try check("branch =~ ^(release|hotfix)/", context))
        #expect(try check("branch !~ ^main$", context))
        #expect(try !check("branch =~ ^main$", context))
    }

    @Test func inListsAndNotIn() throws {
        #expect(try check("branch IN (main, develop)"))
        #expect(try check("branch in (develop, 'main')"))
        #expect(try !check("branch NOT IN (main, develop)"))
        #expect(try check("branch NOT IN (develop)"))
    }

    @Test func presentAndBlank() throws {
        let tagged = BuildRequestContext(branch: "v1", tag: "v1.0", repo: "o/r")
        #expect(try check("tag IS present", tagged))
        #expect(try !check("tag IS present"))
        #expect(try check("tag IS blank"))
        #expect(try check("tag IS NOT present"))
        #expect(try check("tag is not blank", tagged))
    }

    @Test func booleanOperatorsPrecedenceAndParentheses() throws {
        #expect(try check("branch = main AND type = push"))
        #expect(try check("branch = x OR branch = main AND type = push"))
        #expect(try !check("(branch = x OR branch = main) AND type = api"))
        #expect(try check("NOT branch = x"))
        #expect(try check("not (branch = x or type = cron)"))
        #expect(try check("branch = main && type != cron"))
    }

    @Test func forkAndEventTypes() throws {
        let pr = BuildRequestContext(branch: "f", eventType: "pull_request", repo: "o/r", fork: true)
        #expect(try check("fork = true", pr))
        #expect(try check("type = pull_request AND fork", pr))
        #expect(try check("fork = false"))
        #expect(try !check("fork"))
    }

    @Test func envFunctionUsesJobThenGlobalAndHidesSecure() throws {
        let env = [EnvVar(name: "DEPLOY", value: "no"), EnvVar(name: "DEPLOY", value: "yes"),
                   EnvVar(name: "TOKEN", value: "secret", secure: true)]
        #expect(try check("env(DEPLOY) = yes", env: env))
        #expect(try check("env(TOKEN) IS blank", env: env))
        #expect(try check("env(MISSING) IS blank"))
    }

    @Test func jobVariables() throws {
        let keys: [String: JSONValue] = ["os": .string("osx"), "language": .string("swift")]
        #expect(try check("os = osx AND language = swift", keys: keys))
        #expect(try check("commit_message =~ deploy", pushContext(message: "please deploy now")))
        #expect(try check("sender IS blank"))
    }

    @Test func keywordsAreCaseInsensitive() throws {
        #expect(try check("branch iN (main) aNd NoT tag Is present"))
    }

    @Test func parseErrorsNameTheCondition() {
        for bad in ["branch =", "(branch = main", "branch = main AND", "", "branch IN main", "tag IS odd",
                    "branch =~ /[/", "branch =~ /unterminated"] {
            #expect(throws: ConfigError.self) { try Condition.parse(bad) }
        }
        do {
            _ = try Condition.parse("branch = main)")
        } catch {
            #expect(error.message.contains("\"branch = main)\""))
        }
    }

    @Test func deeplyNestedConditionIsRejectedNotCrashed() {
        let deep = String(repeating: "(", count: 10_000) + "branch = main" + String(repeating: ")", count: 10_000)
        #expect(throws: ConfigError.self) { try Condition.parse(deep) }
        let notChain = String(repeating: "NOT ", count: 10_000) + "branch = main"
        #expect(throws: ConfigError.self) { try Condition.parse(notChain) }
    }
}
