import ConveyorCore
import ConveyorHTTPClient
import ConveyorHub
import ConveyorModel
import ConveyorTesting
import Foundation
import Testing

/// `notifications:` from the build's config, through the outbox to real receivers: a local HTTP
/// receiver (Travis-style webhook and Slack) and the aiosmtpd server of scripts/test-servers.sh.
@Suite("Config notifications")
struct ConfigNotificationTests {
    static func smtp() throws -> (url: String, directory: String) {
        let env = ProcessInfo.processInfo.environment
        guard let url = env["CONVEYOR_TEST_SMTP_URL"], let directory = env["CONVEYOR_TEST_SMTP_DIR"] else {
            throw TestSetupError("CONVEYOR_TEST_SMTP_URL/CONVEYOR_TEST_SMTP_DIR are not set: start the SMTP server with scripts/test-servers.sh start "
                                 + "and eval \"$(scripts/test-servers.sh env)\"")
        }
        return (url, directory)
    }

    static func mails(to recipient: String, in directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".eml") }.compactMap { try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8) }
            .filter { $0.contains("X-Envelope-To: \(recipient)") }
    }

    @Test func aFailedBuildNotifiesTheWebhookSlackAndEmail() async throws {
        let (smtpURL, mailDirectory) = try Self.smtp()
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let fixture = try await HubFixture.make {
            $0.smtpURL = smtpURL
            $0.smtpFrom = "ci@conveyor.test"
            $0.publicURL = "https://ci.example"
        }
        let recipient = "dev-\(UUID().uuidString.prefix(8).lowercased())@example.test"
        let http = CurlHTTPClient()
        let build = try await fixture.build(sha: "feedbeef00")
        try await fixture.setNotifications(build: build, NotificationsConfig(
            webhooks: .init(urls: [receiver.url + "/travis"], rules: NotificationsConfig.webhookDefaults),
            email: .init(recipients: [recipient], rules: NotificationsConfig.emailDefaults),
            slack: .init(rooms: [receiver.url + "/slack#builds"], rules: NotificationsConfig.slackDefaults, template: nil, onPullRequests: true)))
        let job = try await fixture.job(build: build)
        try await withServices([HubService(context: fixture.context), NotifyService(context: fixture.context, http: http, configuration: NotifyTests.fast)]) {
            for event in AttemptScript(result: .failed).all { try await fixture.push(job, event) }
            #expect(try await eventually {
                receiver.requests(path: "/travis").count == 1 && receiver.requests(path: "/slack").count == 1
                    && !Self.mails(to: recipient, in: mailDirectory).isEmpty
            })
            #expect(try await eventually { try await fixture.stateDrained() })
        }
        await http.shutdown()

        // Travis's webhook: form field `payload` with the JSON, and the repository slug header.
        let hook = try #require(receiver.requests(path: "/travis").first)
        #expect(hook.headers["content-type"] == "application/x-www-form-urlencoded")
        #expect(hook.headers["travis-repo-slug"] == "octo/widget")
        #expect(hook.bodyText.hasPrefix("payload="))
        let json = String(hook.bodyText.dropFirst("payload=".count)).removingPercentEncoding ?? ""
        let payload = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect((payload["status"] as? NSNumber)?.intValue == 1)
        #expect((payload["result"] as? NSNumber)?.intValue == 1)
        #expect(payload["status_message"] as? String == "Failed")
        #expect(payload["branch"] as? String == "main")
        #expect(payload["commit"] as? String == "feedbeef00")
        #expect((payload["repository"] as? [String: Any])?["name"] as? String == "widget")
        #expect((payload["matrix"] as? [Any])?.count == 1)

        // Slack: Travis's default message as a red attachment, to the room's channel.
        let slack = try #require(receiver.requests(path: "/slack").first).json
        #expect(slack["channel"] as? String == "#builds")
        let attachment = try #require((slack["attachments"] as? [[String: Any]])?.first)
        #expect(attachment["color"] as? String == "danger")
        let text = attachment["text"] as? String ?? ""
        #expect(text.contains("of octo/widget@main by  failed in"))
        #expect(text.contains("<https://ci.example/builds/\(build)|#"))

        // Email through SMTP: Travis's subject, to the configured recipient.
        let mail = try #require(Self.mails(to: recipient, in: mailDirectory).first)
        #expect(mail.contains("X-Envelope-From: ci@conveyor.test"))
        #expect(mail.contains("Subject: Failed: octo/widget#"))
        #expect(mail.contains("(main - feedbee)"))
        #expect(mail.contains("Commit:  feedbeef00"))

        let rows = try await fixture.context.postgres.query("SELECT kind, state, attempts FROM deliveries ORDER BY kind").rows
        #expect(rows.map { $0["kind"].string ?? "" } == ["email", "slack", "travis_webhook"])
        #expect(rows.allSatisfy { $0["state"].string == "delivered" && $0["attempts"].int == 1 })
        await fixture.close()
    }

    /// Email's default `on_success: change`: a pass after a pass sends nothing; the webhook's
    /// `on_success: never` sends nothing either; an unreachable SMTP server is retried and recorded.
    @Test func rulesDecideAndFailuresAreRecorded() async throws {
        _ = try Self.smtp()
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let deadPort = try freeLoopbackPort()
        let fixture = try await HubFixture.make { $0.smtpURL = "smtp://127.0.0.1:\(deadPort)" }
        let http = CurlHTTPClient()
        let recipient = "quiet@example.test"
        let never = NotificationRules(onSuccess: .never)
        // An earlier passed build on main makes this pass "no change" for email.
        let earlier = try await fixture.build(sha: "aaaa1111")
        try await fixture.context.postgres.query("UPDATE builds SET state = 'passed' WHERE id = $1", [.int(earlier)])
        let build = try await fixture.build(sha: "bbbb2222")
        try await fixture.setNotifications(build: build, NotificationsConfig(
            webhooks: .init(urls: [receiver.url + "/never"], rules: never),
            email: .init(recipients: [recipient], rules: NotificationsConfig.emailDefaults)))
        let failing = try await fixture.build(sha: "cccc3333")
        try await fixture.setNotifications(build: failing, NotificationsConfig(email: .init(recipients: [recipient], rules: NotificationsConfig.emailDefaults)))
        let job = try await fixture.job(build: build)
        let failingJob = try await fixture.job(build: failing)
        var configuration = NotifyTests.fast
        configuration.maxAttempts = 2
        try await withServices([HubService(context: fixture.context), NotifyService(context: fixture.context, http: http, configuration: configuration)]) {
            for event in AttemptScript().all { try await fixture.push(job, event) }
            for event in AttemptScript(result: .failed).all { try await fixture.push(failingJob, event) }
            #expect(try await eventually {
                try await fixture.context.postgres.query("SELECT 1 FROM deliveries WHERE kind = 'email' AND state = 'failed'").first != nil
            })
        }
        await http.shutdown()
        #expect(receiver.requests.isEmpty)
        let rows = try await fixture.context.postgres.query("SELECT build_id, kind, attempts, last_error FROM deliveries").rows
        #expect(rows.count == 1)
        #expect(rows.first?["build_id"].int64 == failing)
        #expect(rows.first?["attempts"].int == 2)
        #expect(rows.first?["last_error"].string?.contains("SMTP") == true)
        await fixture.close()
    }
}
