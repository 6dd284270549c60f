import ConveyorCore
import ConveyorHTTPClient
import ConveyorHub
import ConveyorModel
import ConveyorTesting
import Foundation
import Testing

@Suite("Notifications")
struct NotifyTests {
    static let secret = "s3cret"

    /// fast_finish with allow_failures: the build finishes once, so exactly one webhook is sent,
    /// signed with the repository's secret; commit statuses go pending, then success.
    @Test func fastFinishSendsExactlyOneSignedWebhook() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let fixture = try await HubFixture.make(repositorySettings: #"{"webhooks": ["\#(receiver.url)/hook"], "webhook_secret": "\#(Self.secret)"}"#) {
            $0.statusAPIURL = receiver.url + "/api"
            $0.statusAPIToken = "t0ken"
            $0.publicURL = "https://ci.example"
        }
        let http = CurlHTTPClient()
        let build = try await fixture.build(fastFinish: true, sha: "feedbeef")
        let required = try await fixture.job(build: build)
        let optional = try await fixture.job(build: build, allowFailure: true)
        let statusPath = "/api/repos/octo/widget/statuses/feedbeef"
        try await withServices([HubService(context: fixture.context), NotifyService(context: fixture.context, http: http, configuration: Self.fast)]) {
            for event in AttemptScript().all.prefix(3) { try await fixture.push(optional, event) }
            for event in AttemptScript().all { try await fixture.push(required, event) }
            #expect(try await eventually { receiver.requests(path: "/hook").count == 1 && receiver.requests(path: statusPath).count == 2 })
            try await fixture.push(optional, AttemptScript(result: .failed).finished)
            #expect(try await eventually { try await fixture.stateDrained() })
            try await Task.sleep(for: .seconds(1)) // room for a wrong second notification to arrive
        }
        await http.shutdown()

        let hooks = receiver.requests(path: "/hook")
        #expect(hooks.count == 1)
        let hook = try #require(hooks.first)
        #expect(hook.method == "POST")
        #expect(hook.headers["x-conveyor-signature"] == WebhookSignature.hmacSHA256Hex(secret: Self.secret, body: hook.body))
        #expect(hook.headers["x-conveyor-signature"]?.hasPrefix("sha256=") == true)
        #expect(hook.headers["x-conveyor-event"] == "build:finished")
        let payload = hook.json
        #expect(payload["state"] as? String == "passed")
        #expect((payload["status"] as? NSNumber)?.intValue == 0)
        #expect(payload["commit"] as? String == "feedbeef")
        #expect(payload["branch"] as? String == "main")
        #expect(payload["build_url"] as? String == "https://ci.example/builds/\(build)")
        #expect((payload["repository"] as? [String: Any])?["owner_name"] as? String == "octo")
        #expect((payload["repository"] as? [String: Any])?["name"] as? String == "widget")
        #expect((payload["matrix"] as? [Any])?.count == 2)

        let statuses = receiver.requests(path: statusPath)
        #expect(statuses.map { $0.json["state"] as? String } == ["pending", "success"])
        #expect(statuses.allSatisfy { $0.headers["authorization"] == "token t0ken" })
        #expect(statuses.first?.json["context"] as? String == "conveyor")

        let rows = try await fixture.context.postgres.query("SELECT kind, state, attempts FROM deliveries ORDER BY id").rows
        #expect(rows.count == 3)
        #expect(rows.allSatisfy { $0["state"].string == "delivered" && $0["attempts"].int == 1 })
        await fixture.close()
    }

    /// A failing receiver: retried with backoff, each attempt recorded, delivered at the third.
    @Test func webhooksAreRetriedWithBackoff() async throws {
        let receiver = try HTTPReceiver(failFirst: 2)
        defer { receiver.stop() }
        // The inbound webhook secret must never sign what goes out; the notification secret does.
        let fixture = try await HubFixture.make(repositorySettings: #"{"webhooks": ["\#(receiver.url)/hook"]}"#) {
            $0.webhookSecret = "inbound-secret"
            $0.notificationSecret = "node-secret"
        }
        let http = CurlHTTPClient()
        let build = try await fixture.build()
        let job = try await fixture.job(build: build)
        try await withServices([HubService(context: fixture.context), NotifyService(context: fixture.context, http: http, configuration: Self.fast)]) {
            for event in AttemptScript(result: .errored).all { try await fixture.push(job, event) }
            #expect(try await eventually {
                try await fixture.context.postgres.query("SELECT 1 FROM deliveries WHERE state = 'delivered'").first != nil
            })
        }
        await http.shutdown()
        let row = try #require(try await fixture.context.postgres.query("SELECT attempts, last_status, last_error FROM deliveries").first)
        #expect(row["attempts"].int == 3)
        #expect(row["last_status"].int == 201)
        #expect(receiver.requests.count == 3)
        let bodies = Set(receiver.requests.map(\.bodyText))
        #expect(bodies.count == 1) // every attempt sends the same body
        #expect(receiver.requests.allSatisfy { $0.headers["x-conveyor-signature"] == WebhookSignature.hmacSHA256Hex(secret: "node-secret", body: $0.body) })
        #expect(receiver.requests.first?.json["state"] as? String == "errored")
        await fixture.close()
    }

    /// A receiver that never succeeds: the delivery is given up after the maximum attempts.
    @Test func deliveriesAreGivenUpAfterTheLastAttempt() async throws {
        let receiver = try HTTPReceiver(failFirst: 100)
        defer { receiver.stop() }
        let fixture = try await HubFixture.make(repositorySettings: #"{"webhooks": ["\#(receiver.url)/hook"]}"#)
        let http = CurlHTTPClient()
        let job = try await fixture.job(build: try await fixture.build())
        var configuration = Self.fast
        configuration.maxAttempts = 3
        try await withServices([HubService(context: fixture.context), NotifyService(context: fixture.context, http: http, configuration: configuration)]) {
            for event in AttemptScript().all { try await fixture.push(job, event) }
            #expect(try await eventually {
                try await fixture.context.postgres.query("SELECT 1 FROM deliveries WHERE state = 'failed'").first != nil
            })
            try await Task.sleep(for: .milliseconds(500))
        }
        await http.shutdown()
        let row = try #require(try await fixture.context.postgres.query("SELECT attempts, last_status, last_error FROM deliveries").first)
        #expect(row["attempts"].int == 3)
        #expect(row["last_status"].int == 500)
        #expect(row["last_error"].string?.hasPrefix("HTTP 500") == true)
        #expect(receiver.requests.count == 3)
        await fixture.close()
    }

    static var fast: NotifyConfiguration {
        NotifyConfiguration(maxAttempts: 6, retryBaseSeconds: 0.2, sweepInterval: .milliseconds(100), requestTimeout: .seconds(5), claimSeconds: 10)
    }
}
