import ConveyorCore
import ConveyorHTTPClient
import ConveyorHub
import ConveyorModel
import ConveyorSecrets
import ConveyorTesting
import Foundation
import Testing

/// The repository key in notifications, on real servers: Travis's `Signature` header checked with the
/// repository's public key by `openssl`, `secure:` webhook and Slack targets opened only when sent (never
/// stored, published or shown in plain text), and a fork's pull request that gets no secure target.
@Suite("Secure notifications")
struct SecureNotificationTests {
    /// A fixture whose node holds a cluster key, and the repository's public key (made as
    /// `GET /api/v1/repos/{o}/{n}/key` makes it: `RepositoryKeyStore.ensure`).
    static func keyedFixture(_ configure: @escaping (inout Settings) -> Void = { _ in }) async throws -> (HubFixture, publicKey: String) {
        let clusterKey = ClusterKey.generate()
        let fixture = try await HubFixture.make {
            $0.secretsKey = clusterKey
            configure(&$0)
        }
        let store = RepositoryKeyStore(postgres: fixture.context.postgres, keyring: try Keyring.from(fixture.context.settings))
        return (fixture, try await store.ensure(repository: fixture.repoID).publicKey)
    }

    /// Every text column of the build's deliveries, and every entry of the event stream.
    static func storedText(_ fixture: HubFixture) async throws -> String {
        let rows = try await fixture.context.postgres.query("SELECT row_to_json(d)::text AS row FROM deliveries d").rows.compactMap { $0["row"].string }
        let events = try await fixture.events().map { "\($0.type) \($0.data)" }
        return (rows + events).joined(separator: "\n")
    }

    static func payloadJSON(_ request: HTTPReceiver.Request) -> String {
        String(request.bodyText.dropFirst("payload=".count)).removingPercentEncoding ?? ""
    }

    @Test func travisWebhooksAreSignedWithTheRepositoryKey() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let (fixture, publicKey) = try await Self.keyedFixture()
        let http = CurlHTTPClient()
        let build = try await fixture.build(sha: "5151ab00")
        try await fixture.setNotifications(build: build, NotificationsConfig(
            webhooks: .init(urls: [receiver.url + "/signed"], rules: NotificationsConfig.webhookDefaults)))
        let job = try await fixture.job(build: build)
        try await withServices([HubService(context: fixture.context), NotifyService(context: fixture.context, http: http, configuration: NotifyTests.fast)]) {
            for event in AttemptScript(result: .failed).all { try await fixture.push(job, event) }
            #expect(try await eventually { receiver.requests(path: "/signed").count == 1 })
        }
        await http.shutdown()
        let hook = try #require(receiver.requests(path: "/signed").first)
        let signature = try #require(hook.headers["signature"])
        let payload = Self.payloadJSON(hook)
        #expect(payload.contains("\"commit\": \"5151ab00\"") || payload.contains("\"commit\":\"5151ab00\""))
        // Base64 without line breaks of an RSA-2048 signature (256 bytes).
        #expect(!signature.contains("\n") && Data(base64Encoded: signature)?.count == 256)
        #expect(try await opensslVerifiesTravisSignature(payload: payload, signature: signature, publicKeyPEM: publicKey))
        #expect(TravisSignatureCheck.isValid(signature: signature, payload: Array(payload.utf8), publicKeyPEM: publicKey))
        // The signature covers the form value exactly: one byte more and openssl refuses it.
        #expect(try await opensslVerifiesTravisSignature(payload: payload + " ", signature: signature, publicKeyPEM: publicKey) == false)
        await fixture.close()
    }

    /// No key pair (and no cluster key): the webhook still goes out, without the header.
    @Test func withoutAKeyTheWebhookGoesOutUnsigned() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let fixture = try await HubFixture.make()
        let http = CurlHTTPClient()
        let build = try await fixture.build(sha: "0051ab00")
        try await fixture.setNotifications(build: build, NotificationsConfig(
            webhooks: .init(urls: [receiver.url + "/unsigned"], rules: NotificationsConfig.webhookDefaults)))
        let job = try await fixture.job(build: build)
        try await withServices([HubService(context: fixture.context), NotifyService(context: fixture.context, http: http, configuration: NotifyTests.fast)]) {
            for event in AttemptScript().all { try await fixture.push(job, event) }
            #expect(try await eventually { receiver.requests(path: "/unsigned").count == 1 })
        }
        await http.shutdown()
        let hook = try #require(receiver.requests(path: "/unsigned").first)
        #expect(hook.headers["signature"] == nil)
        #expect(hook.headers["travis-repo-slug"] == "octo/widget")
        await fixture.close()
    }

    /// `secure:` webhook, Slack and email targets reach the receivers; the outbox rows, the event stream
    /// and the recorded error hold only stand-ins. Slack's `%{author}` is the head commit's author.
    @Test func secureTargetsAreOpenedOnlyWhenSent() async throws {
        let (smtpURL, mailDirectory) = try ConfigNotificationTests.smtp()
        let receiver = try HTTPReceiver(failFirst: 1)
        defer { receiver.stop() }
        let (fixture, publicKey) = try await Self.keyedFixture {
            $0.smtpURL = smtpURL
            $0.smtpFrom = "ci@conveyor.test"
        }
        let recipient = "secret-\(UUID().uuidString.prefix(8).lowercased())@example.test"
        let http = CurlHTTPClient()
        let hookPath = "/hook-\(UUID().uuidString.prefix(8))/T0KEN"
        let slackPath = "/services/T1/B2/\(UUID().uuidString.prefix(12))"
        let secureHook = receiver.url + hookPath
        let secureRoom = receiver.url + slackPath + "#deploys"
        let build = try await fixture.build(sha: "5ec0e7aa")
        try await fixture.context.postgres.query("""
            UPDATE requests SET payload = '{"head_commit": {"author": {"name": "Mona Lisa", "email": "mona@example.test"}}}'::jsonb
            WHERE id = (SELECT request_id FROM builds WHERE id = $1)
            """, [.int(build)])
        try await fixture.setNotifications(build: build, NotificationsConfig(
            webhooks: .init(urls: [], rules: NotificationsConfig.webhookDefaults,
                            sealed: [try SecureValueCipher.encrypt(secureHook, publicKeyPEM: publicKey)]),
            email: .init(recipients: [], rules: NotificationsConfig.emailDefaults,
                         sealed: [try SecureValueCipher.encrypt(recipient, publicKeyPEM: publicKey)]),
            slack: .init(rooms: [], rules: NotificationsConfig.slackDefaults,
                         sealed: [try SecureValueCipher.encrypt(secureRoom, publicKeyPEM: publicKey)])))
        let job = try await fixture.job(build: build)
        try await withServices([HubService(context: fixture.context), NotifyService(context: fixture.context, http: http, configuration: NotifyTests.fast)]) {
            for event in AttemptScript(result: .failed).all { try await fixture.push(job, event) }
            #expect(try await eventually {
                try await fixture.context.postgres.query("SELECT count(*) AS n FROM deliveries WHERE state = 'delivered'").first?["n"].int == 3
            })
        }
        await http.shutdown()
        // The first request got a 500 and was retried: both arrived in the end.
        let hook = try #require(receiver.requests(path: hookPath).last)
        #expect(hook.headers["signature"].map { TravisSignatureCheck.isValid(signature: $0, payload: Array(Self.payloadJSON(hook).utf8), publicKeyPEM: publicKey) } == true)
        let slack = try #require(receiver.requests(path: slackPath).last).json
        #expect(slack["channel"] as? String == "#deploys")
        let text = (slack["attachments"] as? [[String: Any]])?.first?["text"] as? String ?? ""
        #expect(text.contains("of octo/widget@main by Mona Lisa failed in"))
        #expect(!ConfigNotificationTests.mails(to: recipient, in: mailDirectory).isEmpty, "the secure recipient got no mail")

        let stored = try await Self.storedText(fixture)
        for secret in [secureHook, hookPath, "T0KEN", secureRoom, slackPath, recipient] { #expect(!stored.contains(secret), "plaintext \(secret) is stored") }
        let rows = try await fixture.context.postgres.query("SELECT kind, target, attempts, sealed_targets::text AS sealed FROM deliveries ORDER BY kind").rows
        #expect(rows.map { $0["kind"].string ?? "" } == ["email", "slack", "travis_webhook"])
        #expect(rows.allSatisfy { ($0["target"].string ?? "").hasPrefix(SecureStandIn.prefix) && $0["sealed"].string?.contains($0["target"].string ?? "-") == true })
        #expect(rows.map { $0["attempts"].int ?? 0 }.reduce(0, +) == 4)
        await fixture.close()
    }

    /// A pull request from a fork: the plain webhook is sent, the secure one is recorded as withheld
    /// with why, and never opened.
    @Test func aForkPullRequestGetsNoSecureTarget() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let (fixture, publicKey) = try await Self.keyedFixture()
        let http = CurlHTTPClient()
        let build = try await fixture.build(sha: "f0f0f0f0")
        try await fixture.context.postgres.query("""
            UPDATE requests SET event_type = 'pull_request', pull_request = 7,
                payload = '{"pull_request": {"head": {"ref": "patch", "repo": {"full_name": "stranger/widget"}}}}'::jsonb
            WHERE id = (SELECT request_id FROM builds WHERE id = $1)
            """, [.int(build)])
        try await fixture.context.postgres.query("UPDATE builds SET event_type = 'pull_request' WHERE id = $1", [.int(build)])
        try await fixture.setNotifications(build: build, NotificationsConfig(
            webhooks: .init(urls: [receiver.url + "/plain"], rules: NotificationsConfig.webhookDefaults,
                            sealed: [try SecureValueCipher.encrypt(receiver.url + "/secret", publicKeyPEM: publicKey)])))
        let job = try await fixture.job(build: build)
        try await withServices([HubService(context: fixture.context), NotifyService(context: fixture.context, http: http, configuration: NotifyTests.fast)]) {
            for event in AttemptScript().all { try await fixture.push(job, event) }
            #expect(try await eventually { receiver.requests(path: "/plain").count == 1 })
            #expect(try await eventually { try await fixture.stateDrained() })
        }
        await http.shutdown()
        #expect(receiver.requests(path: "/secret").isEmpty)
        let withheld = try #require(try await fixture.context.postgres.query("""
            SELECT target, state, attempts, last_error, sealed_targets FROM deliveries WHERE target LIKE 'secure:%'
            """).first)
        #expect(withheld["state"].string == "withheld")
        #expect(withheld["attempts"].int == 0)
        #expect(withheld["sealed_targets"].string == nil)
        #expect(withheld["last_error"].string?.contains("pull request comes from a fork (stranger/widget)") == true)
        await fixture.close()
    }

    /// curl's error names the URL it could not reach; what is recorded names the stand-in instead.
    @Test func aFailedSecureTargetIsRecordedByItsStandIn() async throws {
        let (fixture, publicKey) = try await Self.keyedFixture()
        let http = CurlHTTPClient()
        let deadURL = "http://127.0.0.1:\(try freeLoopbackPort())/dead/S3CRET-PATH"
        let ciphertext = try SecureValueCipher.encrypt(deadURL, publicKeyPEM: publicKey)
        let build = try await fixture.build(sha: "deadbeef")
        try await fixture.setNotifications(build: build, NotificationsConfig(
            webhooks: .init(urls: [], rules: NotificationsConfig.webhookDefaults, sealed: [ciphertext])))
        let job = try await fixture.job(build: build)
        var configuration = NotifyTests.fast
        configuration.maxAttempts = 1
        try await withServices([HubService(context: fixture.context), NotifyService(context: fixture.context, http: http, configuration: configuration)]) {
            for event in AttemptScript().all { try await fixture.push(job, event) }
            #expect(try await eventually {
                try await fixture.context.postgres.query("SELECT 1 FROM deliveries WHERE state = 'failed'").first != nil
            })
        }
        await http.shutdown()
        let error = try #require(try await fixture.context.postgres.query("SELECT last_error FROM deliveries").first?["last_error"].string)
        #expect(error.contains("POST \(SecureStandIn.of(ciphertext: ciphertext))"), "\(error)")
        #expect(!(try await Self.storedText(fixture)).contains("S3CRET-PATH"))
        await fixture.close()
    }
}
