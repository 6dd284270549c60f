import ConveyorCore
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
@testable import ConveyorWeb

/// Public and private repositories over REST; the token rules; the startup refusal.
@Suite struct AccessTests {
    @Test func privateRepositoriesAreInvisibleWithoutTheToken() async throws {
        let web = try await WebFixture.make()
        let pub = try await web.seed(slug: "acme/public", isPrivate: false)
        let priv = try await web.seed(slug: "acme/secret", isPrivate: true)
        try await web.test { client in
            try await client.execute(uri: "/api/v1/repos", method: .get) { response in
                let repos = response.json["repos"] as? [[String: Any]] ?? []
                #expect(repos.map { $0["slug"] as? String } == ["acme/public"])
                #expect(!response.text.contains("secret.git"))
            }
            try await client.execute(uri: "/api/v1/repos", method: .get, headers: .bearer) { response in
                let repos = response.json["repos"] as? [[String: Any]] ?? []
                #expect(repos.count == 2)
                #expect(response.text.contains("file:///srv/acme/secret.git"))
            }
            try await client.execute(uri: "/api/v1/builds", method: .get) { response in
                #expect((response.json["builds"] as? [Any])?.count == 1)
            }
            for path in ["/api/v1/builds/\(priv.build)", "/api/v1/jobs/\(priv.job)", "/api/v1/requests/\(priv.request)",
                         "/api/v1/jobs/\(priv.job)/log", "/api/v1/jobs/\(priv.job)/log/stream"] {
                try await client.execute(uri: path, method: .get) { #expect($0.status == .notFound, "\(path): \($0.status)") }
            }
            for path in ["/api/v1/builds/\(priv.build)", "/api/v1/jobs/\(priv.job)", "/api/v1/requests/\(priv.request)", "/api/v1/jobs/\(priv.job)/log"] {
                try await client.execute(uri: path, method: .get, headers: .bearer) { #expect($0.status == .ok, "\(path): \($0.status) \($0.text)") }
                // What EventSource clients use.
                try await client.execute(uri: path + "?access_token=\(WebFixture.token)", method: .get) { #expect($0.status == .ok, "\(path)") }
            }
            for path in ["/api/v1/builds/\(pub.build)", "/api/v1/jobs/\(pub.job)", "/api/v1/requests/\(pub.request)", "/api/v1/jobs/\(pub.job)/log"] {
                try await client.execute(uri: path, method: .get) { #expect($0.status == .ok, "\(path): \($0.status)") }
            }
            try await client.execute(uri: "/api/v1/builds/\(pub.build)", method: .get, headers: [.authorization: "Bearer wrong"]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/api/v1/owners/acme/queue", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/api/v1/owners/acme/queue", method: .get, headers: .bearer) { #expect($0.status == .ok) }
        }
    }

    @Test func visibilityIsChangedThroughTheAPI() async throws {
        let web = try await WebFixture.make()
        let priv = try await web.seed(slug: "acme/later", isPrivate: true)
        try await web.test { client in
            let path = "/api/v1/repos/acme/later"
            try await client.execute(uri: path, method: .patch, body: Bodies.json(#"{"private": false}"#)) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: path, method: .patch, headers: .bearer, body: Bodies.json(#"{"private": "no"}"#)) {
                #expect($0.status == .badRequest)
                #expect($0.errorMessage.contains("`private`"))
            }
            try await client.execute(uri: "/api/v1/repos/acme/none", method: .patch, headers: .bearer, body: Bodies.json(#"{"private": false}"#)) { #expect($0.status == .notFound) }
            try await client.execute(uri: path, method: .patch, headers: .bearer, body: Bodies.json(#"{"private": false}"#)) { response in
                #expect(response.status == .ok)
                #expect(response.json["private"] as? Bool == false)
            }
            try await client.execute(uri: "/api/v1/builds/\(priv.build)", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func controlRoutesNeedTheTokenAndValidIDs() async throws {
        let web = try await WebFixture.make()
        let seeded = try await web.seed(slug: "acme/ctl", isPrivate: false)
        try await web.test { client in
            for path in ["/api/v1/jobs/999999/cancel", "/api/v1/jobs/999999/restart", "/api/v1/builds/999999/cancel", "/api/v1/builds/999999/restart"] {
                try await client.execute(uri: path, method: .post) { #expect($0.status == .unauthorized, "\(path)") }
                try await client.execute(uri: path, method: .post, headers: .bearer) { #expect($0.status == .notFound, "\(path): \($0.status) \($0.text)") }
            }
            for bad in ["abc", "-1", "0", "99999999999999999999999"] {
                try await client.execute(uri: "/api/v1/jobs/\(bad)/cancel", method: .post, headers: .bearer) {
                    #expect($0.status == .badRequest)
                    #expect($0.errorMessage.contains("`id`"))
                }
                try await client.execute(uri: "/api/v1/builds/\(bad)", method: .get) { #expect($0.status == .badRequest) }
            }
            try await client.execute(uri: "/api/v1/jobs/\(seeded.job)/cancel", method: .post, headers: .bearer) { response in
                #expect(response.status == .ok, "\(response.text)")
                #expect(response.json["ok"] as? Bool == true)
            }
            try await client.execute(uri: "/api/v1/builds?limit=0", method: .get) {
                #expect($0.status == .badRequest)
                #expect($0.errorMessage.contains("`limit`"))
            }
            try await client.execute(uri: "/api/v1/jobs/\(seeded.job)/log?offset=-3", method: .get) { #expect($0.status == .badRequest) }
            let owner = "/api/v1/owners/acme"
            try await client.execute(uri: owner, method: .put, body: Bodies.json(#"{"limit": 3}"#)) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: owner, method: .put, headers: .bearer, body: Bodies.json(#"{"limit": -1}"#)) { #expect($0.status == .badRequest) }
            try await client.execute(uri: owner, method: .put, headers: .bearer, body: Bodies.json(#"{"limit": "3"}"#)) {
                #expect($0.status == .badRequest)
                #expect($0.errorMessage.contains("field `limit`: expected an integer"))
            }
            try await client.execute(uri: owner, method: .put, headers: .bearer, body: Bodies.json(#"{}"#)) {
                #expect($0.errorMessage == "missing field `limit`")
            }
            try await client.execute(uri: owner, method: .put, headers: .bearer, body: Bodies.json(#"{"limit": 99999999999}"#)) { #expect($0.status == .badRequest) }
            try await client.execute(uri: "/api/v1/owners/nobody", method: .put, headers: .bearer, body: Bodies.json(#"{"limit": 3}"#)) { #expect($0.status == .notFound) }
            try await client.execute(uri: owner, method: .put, headers: .bearer, body: Bodies.json(#"{"limit": 3}"#)) { response in
                #expect(response.status == .ok)
                #expect(response.json["limit"] as? Int == 3)
            }
        }
    }

    @Test func aFinishedJobsLogStreamsToItsEnd() async throws {
        let web = try await WebFixture.make()
        let priv = try await web.seed(slug: "acme/logs", isPrivate: true)
        try await web.context.postgres.query("INSERT INTO log_parts (job_id, attempt, number, content, final) VALUES ($1, 1, 0, $2, true)",
                                             [.int(priv.job), .bytes(Array("hello log\n".utf8))])
        try await web.context.postgres.query("UPDATE jobs SET state = 'passed' WHERE id = $1", [.int(priv.job)])
        try await web.test { client in
            try await client.execute(uri: "/api/v1/jobs/\(priv.job)/log/stream?access_token=\(WebFixture.token)", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/event-stream")
                #expect(response.text.contains("event: part"))
                #expect(response.text.contains("hello log"))
                #expect(response.text.contains("event: end"))
            }
            try await client.execute(uri: "/api/v1/jobs/\(priv.job)/log/stream", method: .get, headers: [HTTPField.Name("Last-Event-ID")!: "x", .authorization: "Bearer \(WebFixture.token)"]) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: "/api/v1/jobs/\(priv.job)/log", method: .get, headers: .bearer) { response in
                #expect(response.text == "hello log\n")
                #expect(response.headers[HTTPField.Name("X-Log-Complete")!] == "true")
            }
            // /ws refuses a wrong token before upgrading.
            try await client.execute(uri: "/ws", method: .get, headers: [.authorization: "Bearer wrong"]) { #expect($0.status == .unauthorized) }
        }
    }

    @Test func opsAndStaticRoutesAnswer() async throws {
        let web = try await WebFixture.make()
        try await web.test { client in
            for path in ["/healthz", "/readyz", "/metrics", "/api/v1/queues", "/api/v1/nodes", "/api/v1/owners", "/", "/app.js", "/app.css"] {
                try await client.execute(uri: path, method: .get) { #expect($0.status == .ok, "\(path): \($0.status)") }
            }
            try await client.execute(uri: "/api/v1/nope", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/api/v1/owners/nobody/queue", method: .get, headers: .bearer) { #expect($0.status == .notFound) }
        }
    }

    @Test func theWebRoleRefusesToStartWithoutAToken() async throws {
        var settings = Settings()
        settings.apiToken = nil
        #expect(throws: SettingsError.self) { try WebService.checkSettings(settings) }
        settings.insecureNoAuth = true
        try WebService.checkSettings(settings)
        settings.insecureNoAuth = false
        settings.apiToken = "t"
        try WebService.checkSettings(settings)

        // In insecure mode every call is open (the demo's setting).
        let web = try await WebFixture.make(token: nil)
        let seeded = try await web.seed(slug: "dev/open", isPrivate: true)
        try await web.test { client in
            try await client.execute(uri: "/api/v1/builds/\(seeded.build)", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/api/v1/jobs/\(seeded.job)/cancel", method: .post) { #expect($0.status == .ok) }
        }
    }
}
