import ConveyorModel
import Testing

@Suite struct RefNameTests {
    @Test(arguments: ["main", "feature/x", "release-1.2", "refs/heads/main", "ünïcode", "a.b", "x@y", "v1.0_rc"])
    func validBranches(_ name: String) {
        #expect(RefName.branchProblem(name) == nil)
    }

    @Test func invalidBranchesNameTheRule() {
        let cases: [(String, String)] = [
            ("", "empty"), ("@", "rule 9"), ("-x", "'-'"), ("a b", "rule 4"), ("a~1", "rule 4"), ("a^", "rule 4"), ("a:b", "rule 4"),
            ("a?", "rule 5"), ("a*", "rule 5"), ("a[b", "rule 5"), ("a\\b", "rule 10"), ("a..b", "rule 3"), ("a@{1}", "rule 8"),
            ("/a", "rule 6"), ("a/", "rule 6"), ("a//b", "rule 6"), ("a.", "rule 7"), (".a", "rule 1"), ("a/.b", "rule 1"),
            ("a.lock", "rule 1"), ("a/b.lock/c", "rule 1"), ("a\u{7F}", "rule 4"), ("a\nb", "rule 4"),
            (String(repeating: "x", count: 256), "255 bytes"),
        ]
        for (name, rule) in cases {
            let problem = RefName.branchProblem(name)
            #expect(problem?.contains(rule) == true, "\(name.debugDescription): \(problem ?? "accepted")")
        }
    }

    @Test func pushedRefsLoseOnlyTheirLeadingPrefix() {
        #expect(RefName.parse(pushed: "refs/heads/main")! == ("main", false))
        #expect(RefName.parse(pushed: "refs/heads/refs/heads/main")! == ("refs/heads/main", false))
        #expect(RefName.parse(pushed: "refs/tags/v1.0")! == ("v1.0", true))
        #expect(RefName.parse(pushed: "refs/tags/refs/heads/x")! == ("refs/heads/x", true))
        #expect(RefName.parse(pushed: "refs/notes/commits") == nil)
        #expect(RefName.parse(pushed: "refs/heads/") == nil)
        #expect(RefName.parse(pushed: "main") == nil)
    }

    @Test func commitIDs() {
        #expect(RefName.isCommitID("abc1234"))
        #expect(RefName.isCommitID(String(repeating: "a", count: 40), allowAbbreviated: false))
        #expect(RefName.isCommitID(String(repeating: "F", count: 64), allowAbbreviated: false))
        #expect(!RefName.isCommitID("abc1234", allowAbbreviated: false))
        #expect(!RefName.isCommitID("abc123"))
        #expect(!RefName.isCommitID("xyz1234"))
        #expect(!RefName.isCommitID(String(repeating: "a", count: 65)))
    }
}
