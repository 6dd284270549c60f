import ConveyorCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import ConveyorWeb

/// `POST /api/v1/repos/{owner}/{repo}/requests`: the token, then a typed body whose every fault
/// is a 4xx naming the field.
@Suite struct TriggerRouteTests {
    static let path = "/api/v1/repos/octo/app/requests"

    @Test func tokenIsRequiredInTheHeader() async throws {
        let web = try await WebFixture.make()
        try await web.test { client in
            let body = Bodies.json(#"{"sha": "\#(Bodies.sha)", "url": "file:///srv/x.git"}"#)
            try await client.execute(uri: Self.path, method: .post, body: body) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: Self.path, method: .post, headers: [.authorization: "Bearer nope"], body: body) {
                #expect($0.status == .unauthorized)
                #expect($0.errorMessage == "invalid token")
            }
            // A form post or link can't set a header; a token in the URL does not authorize a write.
            try await client.execute(uri: Self.path + "?access_token=\(WebFixture.token)", method: .post, body: body) { #expect($0.status == .forbidden) }
            try await client.execute(uri: Self.path, method: .post, headers: .bearer, body: body) { #expect($0.status == .accepted) }
        }
    }

    @Test func malformedBodiesAreRefusedNamingTheField() async throws {
        let web = try await WebFixture.make()
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        let cases: [(String, [UInt8], HTTPResponse.Status, String)] = [
            ("config: 5 (crashed the node before)", Array(#"{"sha": "\#(Bodies.sha)", "config": 5}"#.utf8), .badRequest, "`config`"),
            ("wrong type", Array(#"{"branch": 5}"#.utf8), .badRequest, "field `branch`: expected a string"),
            ("wrong type nested", Array(#"{"private": "yes"}"#.utf8), .badRequest, "field `private`"),
            ("not an object", Array("[1, 2]".utf8), .badRequest, "must be a JSON object"),
            ("a scalar", Array("5".utf8), .badRequest, "must be a JSON object"),
            ("not JSON", Array("branch=main".utf8), .badRequest, "not valid JSON"),
            ("truncated", Array(#"{"branch": "ma"#.utf8), .badRequest, "not valid JSON"),
            ("empty", [], .badRequest, "empty"),
            ("not UTF-8", [0x7B, 0x22, 0x62, 0x22, 0x3A, 0x22, 0xFF, 0xFE, 0x22, 0x7D], .badRequest, "UTF-8"),
            ("deeply nested", Array(#"{"config": \#(deep)}"#.utf8), .badRequest, "nests deeper"),
            ("NUL escape", Array(#"{"branch": "a\u0000b"}"#.utf8), .badRequest, "NUL"),
            ("lone surrogate", Array(#"{"message": "\ud800x"}"#.utf8), .badRequest, "surrogate"),
            ("branch with a colon", Array(#"{"branch": "main:evil"}"#.utf8), .badRequest, "rule 4"),
            ("branch with a star", Array(#"{"branch": "ma*n"}"#.utf8), .badRequest, "rule 5"),
            ("branch with ..", Array(#"{"branch": "a..b"}"#.utf8), .badRequest, "rule 3"),
            ("branch starting with -", Array(#"{"branch": "--upload-pack=x"}"#.utf8), .badRequest, "start with '-'"),
            ("branch ending .lock", Array(#"{"branch": "x/y.lock"}"#.utf8), .badRequest, ".lock"),
            ("sha not hex", Array(#"{"sha": "zzzzzzzz"}"#.utf8), .badRequest, "field `sha`"),
            ("url ext::", Array(#"{"sha": "\#(Bodies.sha)", "url": "ext::sh -c touch% /tmp/pwned"}"#.utf8), .badRequest, "field `url`"),
            ("url option", Array(#"{"sha": "\#(Bodies.sha)", "url": "--upload-pack=touch /tmp/x"}"#.utf8), .badRequest, "field `url`"),
            ("limit on message", Array(#"{"message": "\#(String(repeating: "m", count: 70_000))"}"#.utf8), .badRequest, "field `message`"),
            ("unknown repository without url", Array(#"{"sha": "\#(Bodies.sha)"}"#.utf8), .notFound, "unknown repository"),
            ("too large", Array(#"{"message": "\#(String(repeating: "x", count: 2 << 20))"}"#.utf8), .contentTooLarge, "larger than"),
        ]
        try await web.test { client in
            for (name, body, status, fragment) in cases {
                try await client.execute(uri: Self.path, method: .post, headers: .bearer, body: ByteBuffer(bytes: body)) { response in
                    #expect(response.status == status, "\(name): \(response.status) \(response.text)")
                    #expect(response.errorMessage.contains(fragment), "\(name): '\(response.errorMessage)' lacks '\(fragment)'")
                }
            }
            try await client.execute(uri: "/api/v1/repos/oc$to/app/requests", method: .post, headers: .bearer, body: Bodies.json("{}")) {
                #expect($0.status == .badRequest)
                #expect($0.errorMessage.contains("`owner`"))
            }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
        }
        #expect(try await web.count("SELECT count(*) AS n FROM requests") == 0)
    }

    @Test func aValidRequestIsStoredWithItsConfig() async throws {
        let web = try await WebFixture.make()
        try await web.test { client in
            let body = #"{"sha": "\#(Bodies.sha)", "url": "file:///srv/octo/app.git", "branch": "feature/x", "config": {"script": "echo hi"}, "private": true}"#
            try await client.execute(uri: Self.path, method: .post, headers: .bearer, body: Bodies.json(body)) { response in
                #expect(response.status == .accepted)
                #expect(response.json["repo"] as? String == "octo/app")
                #expect(response.json["branch"] as? String == "feature/x")
                #expect(response.json["request"] as? Int != nil)
            }
            try await client.execute(uri: Self.path, method: .post, headers: .bearer, body: Bodies.json(#"{"sha": "\#(Bodies.sha)", "config": "script: make"}"#)) {
                #expect($0.status == .accepted)
            }
        }
        let row = try await web.context.postgres.query("SELECT config_override, branch FROM requests ORDER BY id").rows
        #expect(row.count == 2)
        #expect(try row[0].decode("config_override", as: String.self) == #"{"script":"echo hi"}"#)
        #expect(try row[1].decode("config_override", as: String.self) == "script: make")
        #expect(try await web.count("SELECT count(*) AS n FROM repositories WHERE slug = 'octo/app' AND private") == 1)
    }
}
