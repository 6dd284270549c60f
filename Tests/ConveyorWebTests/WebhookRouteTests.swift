import ConveyorCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import ConveyorWeb

/// `POST /webhooks/github`: signature first, then GitHub's events as GitHub documents them.
@Suite struct WebhookRouteTests {
    static let path = "/webhooks/github"

    static func push(ref: String = "refs/heads/main", slug: String = "octo/hooked", deleted: Bool = false, isPrivate: Bool = false) -> [UInt8] {
        let after = deleted ? String(repeating: "0", count: 40) : Bodies.sha
        return Array("""
            {"ref": "\(ref)", "before": "\(Bodies.sha)", "after": "\(after)", "deleted": \(deleted), "created": false,
             "head_commit": \(deleted ? "null" : #"{"id": "\#(Bodies.sha)", "message": "Fix things"}"#),
             "repository": {"id": 1, "full_name": "\(slug)", "private": \(isPrivate), "clone_url": "https://github.com/\(slug).git"},
             "sender": {"login": "octocat"}}
            """.utf8)
    }

    static func pullRequest(action: String, slug: String = "octo/hooked") -> [UInt8] {
        Array("""
            {"action": "\(action)", "number": 7, "pull_request": {"title": "Add x", "head": {"ref": "topic", "sha": "\(Bodies.sha)"}, "base": {"ref": "main", "sha": "\(Bodies.sha)"}},
             "repository": {"full_name": "\(slug)", "private": false, "clone_url": "https://github.com/\(slug).git"}, "sender": {"login": "octocat"}}
            """.utf8)
    }

    @Test func theSignatureIsCheckedBeforeTheBodyIsRead() async throws {
        let web = try await WebFixture.make()
        try await web.test { client in
            let garbage: [UInt8] = Array("{not json at all".utf8)
            try await client.execute(uri: Self.path, method: .post, headers: [HTTPField.Name("X-GitHub-Event")!: "push"], body: ByteBuffer(bytes: garbage)) {
                #expect($0.status == .unauthorized)
                #expect($0.errorMessage.contains("missing X-Hub-Signature-256"))
            }
            try await client.execute(uri: Self.path, method: .post, headers: [HTTPField.Name("X-GitHub-Event")!: "push", HTTPField.Name("X-Hub-Signature-256")!: "sha1=abc"],
                                     body: ByteBuffer(bytes: garbage)) { #expect($0.status == .unauthorized) }
            // A wrong signature on an unparsable body is a 401, not a 400: nothing was parsed.
            try await client.execute(uri: Self.path, method: .post, headers: .webhook("push", garbage, secret: "wrong"), body: ByteBuffer(bytes: garbage)) {
                #expect($0.status == .unauthorized)
                #expect($0.errorMessage == "signature does not match")
            }
            try await client.execute(uri: Self.path, method: .post, headers: .webhook("push", garbage), body: ByteBuffer(bytes: garbage)) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: Self.path, method: .post, headers: [HTTPField.Name("X-Hub-Signature-256")!: Bodies.sign(garbage, WebFixture.secret)],
                                     body: ByteBuffer(bytes: garbage)) { #expect($0.status == .badRequest) }
            let huge = [UInt8](repeating: 0x20, count: (25 << 20) + 1)
            try await client.execute(uri: Self.path, method: .post, headers: .webhook("push", Array("x".utf8)), body: ByteBuffer(bytes: huge)) {
                #expect($0.status == .contentTooLarge)
            }
        }
        #expect(try await web.count("SELECT count(*) AS n FROM requests") == 0)
    }

    @Test func eventsThatDoNotBuildGet202WithTheReason() async throws {
        let web = try await WebFixture.make()
        let cases: [(String, [UInt8], String)] = [
            ("ping", Array(#"{"zen": "Keep it logically awesome.", "hook_id": 1, "hook": {"type": "Organization"}, "organization": {"login": "octo"}}"#.utf8), "ping"),
            ("organization", Array(#"{"action": "member_added", "organization": {"login": "octo"}, "sender": {"login": "octocat"}}"#.utf8), "event organization does not build"),
            ("installation", Array(#"{"action": "created", "installation": {"id": 1}, "repositories": [{"full_name": "octo/x"}]}"#.utf8), "event installation does not build"),
            ("member", Array(#"{"action": "added", "repository": 5}"#.utf8), "event member does not build"),
            ("push", Self.push(deleted: true), "was deleted"),
            ("push", Self.push(ref: "refs/notes/commits"), "not a branch or a tag"),
            ("pull_request", Self.pullRequest(action: "closed"), "pull_request action 'closed' does not build"),
            ("pull_request", Self.pullRequest(action: "labeled"), "pull_request action 'labeled' does not build"),
        ]
        try await web.test { client in
            for (event, body, reason) in cases {
                try await client.execute(uri: Self.path, method: .post, headers: .webhook(event, body), body: ByteBuffer(bytes: body)) { response in
                    #expect(response.status == .accepted, "\(event): \(response.status) \(response.text)")
                    #expect((response.json["ignored"] as? String ?? "").contains(reason), "\(event): \(response.text)")
                }
            }
        }
        #expect(try await web.count("SELECT count(*) AS n FROM requests") == 0)
    }

    @Test func pushesBuildOnceAndKeepTheBranchName() async throws {
        let web = try await WebFixture.make()
        try await web.test { client in
            let body = Self.push(ref: "refs/heads/refs/heads/main", isPrivate: true)
            try await client.execute(uri: Self.path, method: .post, headers: .webhook("push", body, delivery: "d-1"), body: ByteBuffer(bytes: body)) { response in
                #expect(response.status == .accepted, "\(response.text)")
                #expect(response.json["branch"] as? String == "refs/heads/main")
            }
            #expect(try await web.count("SELECT count(*) AS n FROM repositories WHERE slug = 'octo/hooked' AND private") == 1)
            // GitHub's redelivery of the same delivery: no second build.
            try await client.execute(uri: Self.path, method: .post, headers: .webhook("push", body, delivery: "d-1"), body: ByteBuffer(bytes: body)) { response in
                #expect(response.status == .ok)
                #expect((response.json["duplicate"] as? String ?? "").contains("duplicate delivery"))
            }
            let tag = Self.push(ref: "refs/tags/v1.0")
            try await client.execute(uri: Self.path, method: .post, headers: .webhook("push", tag, delivery: "d-2"), body: ByteBuffer(bytes: tag)) { #expect($0.status == .accepted) }
            let pr = Self.pullRequest(action: "synchronize")
            try await client.execute(uri: Self.path, method: .post, headers: .webhook("pull_request", pr, delivery: "d-3"), body: ByteBuffer(bytes: pr)) { #expect($0.status == .accepted) }
            let badRef = Self.push(ref: "refs/heads/a..b")
            try await client.execute(uri: Self.path, method: .post, headers: .webhook("push", badRef), body: ByteBuffer(bytes: badRef)) {
                #expect($0.status == .badRequest)
                #expect($0.errorMessage.contains("rule 3"))
            }
        }
        let rows = try await web.context.postgres.query("SELECT branch, tag, event_type, pull_request FROM requests ORDER BY id").rows
        #expect(rows.count == 3)
        #expect(try rows[0].decode("branch", as: String.self) == "refs/heads/main")
        #expect(try rows[1].decode("tag", as: String?.self) == "v1.0")
        #expect(try rows[2].decode("pull_request", as: Int?.self) == 7)
        // Visibility follows the latest payload's repository.private.
        #expect(try await web.count("SELECT count(*) AS n FROM repositories WHERE slug = 'octo/hooked' AND private") == 0)
        #expect(try await web.count("SELECT count(*) AS n FROM webhook_deliveries WHERE request_id IS NOT NULL") == 3)
    }

    @Test func aRepositorysOwnSecretIsTriedAfterTheGlobalOne() async throws {
        let web = try await WebFixture.make()
        try await web.seed(slug: "team/own", isPrivate: false, secret: "repo-secret")
        try await web.seed(slug: "team/other", isPrivate: false)
        try await web.test { client in
            let own = Self.push(slug: "team/own")
            try await client.execute(uri: Self.path, method: .post, headers: .webhook("push", own, secret: "repo-secret"), body: ByteBuffer(bytes: own)) {
                #expect($0.status == .accepted, "\($0.text)")
            }
            // Signed with team/own's secret but naming team/other as well: the parsed name must match the scanned one.
            let twoNames = Array(String(decoding: Self.push(slug: "team/own"), as: UTF8.self)
                .replacingOccurrences(of: #""sender""#, with: #""repository": {"full_name": "team/other"}, "sender""#).utf8)
            // Whichever duplicate key the parser keeps, the request can only be team/own's (or none).
            let status = try await client.execute(uri: Self.path, method: .post, headers: .webhook("push", twoNames, secret: "repo-secret"), body: ByteBuffer(bytes: twoNames)) { $0.status }
            #expect(status == .unauthorized || status == .accepted)
            let other = Self.push(slug: "team/other")
            try await client.execute(uri: Self.path, method: .post, headers: .webhook("push", other, secret: "repo-secret"), body: ByteBuffer(bytes: other)) {
                #expect($0.status == .unauthorized)
            }
        }
        // Each seeded repository has one request of its own.
        #expect(try await web.count("SELECT count(*) AS n FROM requests q JOIN repositories r ON r.id = q.repository_id WHERE r.slug = 'team/own'") >= 2)
        #expect(try await web.count("SELECT count(*) AS n FROM requests q JOIN repositories r ON r.id = q.repository_id WHERE r.slug = 'team/other'") == 1)
    }

    @Test func theNameScanFindsOnlyTheTopLevelRepository() {
        #expect(RepositoryNameScan.fullName(in: Array(#"{"a": {"repository": {"full_name": "x/y"}}, "repository": {"id": 1, "full_name": "o/r"}}"#.utf8)) == "o/r")
        #expect(RepositoryNameScan.fullName(in: Array(#"{"repository": {"owner": {"full_name": "no/no"}, "full_name": "o\/r"}}"#.utf8)) == "o/r")
        #expect(RepositoryNameScan.fullName(in: Array(#"{"repository": "o/r"}"#.utf8)) == nil)
        #expect(RepositoryNameScan.fullName(in: Array(#"{"repository": {"full_name": "unterminated"#.utf8)) == nil)
        #expect(RepositoryNameScan.fullName(in: Array(#"["repository", {"full_name": "o/r"}]"#.utf8)) == nil)
    }
}
