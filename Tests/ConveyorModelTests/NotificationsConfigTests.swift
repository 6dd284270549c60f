@testable import ConveyorModel
import Foundation
import Testing

@Suite struct NotificationsConfigTests {
    @Test func emailIsOnByDefaultWithTravisRules() throws {
        let config = try #require(try expand("script: true").notifications)
        #expect(config.email?.recipients == [])
        #expect(config.email?.rules.onSuccess == .change)
        #expect(config.email?.rules.onFailure == .always)
        #expect(config.webhooks == nil && config.slack == nil)
        #expect(try expand("script: true\nnotifications:\n  email: false").notifications?.email == nil)
    }

    @Test func everyShapeOfTargetsIsRead() throws {
        let yaml = """
            script: true
            notifications:
              on_start: always
              webhooks:
                urls: [https://a.example/hook, {secure: "CIPHER"}]
                on_success: change
              email:
                recipients: one@example.test
                on_failure: never
              slack:
                rooms: https://hooks.example/T/B/x#ci
                template: ["%{repository_slug} %{result}"]
            """
        let expanded = try expand(yaml, decrypt: { $0 == "CIPHER" ? "https://secret.example/hook" : nil })
        let config = try #require(expanded.notifications)
        #expect(config.webhooks?.urls == ["https://a.example/hook", "https://secret.example/hook"])
        #expect(config.webhooks?.rules.onSuccess == .change)
        #expect(config.webhooks?.rules.onStart == .always)
        #expect(config.email?.recipients == ["one@example.test"])
        #expect(config.email?.rules.onFailure == .never)
        #expect(config.slack?.rooms == ["https://hooks.example/T/B/x#ci"])
        #expect(config.slack?.template == ["%{repository_slug} %{result}"])
        // Stored for the hub with the plaintext, never in the expand output people see.
        #expect(expanded.storedJSON()["notifications"] != nil)
        #expect(expanded.expandOutputJSON()["notifications"] == nil)
    }

    @Test func secureTargetsWithoutAKeyAreLeftOutWithAWarning() throws {
        let expanded = try expand("script: true\nnotifications:\n  slack:\n    rooms:\n      - secure: XYZ")
        #expect(expanded.notifications?.slack == nil)
        #expect(expanded.warnings.contains { $0.contains("secure notifications.slack target left out") })
    }

    /// As the gatekeeper expands: `secure:` targets stay ciphertext for the hub, with no warning.
    @Test func secureTargetsStaySealedForTheHub() throws {
        let yaml = """
            script: true
            notifications:
              webhooks: [https://plain.example/hook, {secure: "W E B"}]
              email:
                recipients: [{secure: MAIL}]
              slack:
                rooms: [{secure: ROOM}]
            """
        let expanded = try ConfigExpander.expand(yaml: yaml, context: pushContext(), keepSecureValuesSealed: true)
        let config = try #require(expanded.notifications)
        #expect(config.webhooks?.urls == ["https://plain.example/hook"])
        #expect(config.webhooks?.sealed == ["WEB"])
        #expect(config.email?.recipients == [] && config.email?.sealed == ["MAIL"])
        #expect(config.slack?.rooms == [] && config.slack?.sealed == ["ROOM"])
        #expect(!expanded.warnings.contains { $0.contains("left out") })
        // Without secure targets no `sealed` key is written, so rows stored before it existed read the same.
        let plain = NotificationsConfig(slack: .init(rooms: ["https://x.example"], rules: NotificationsConfig.slackDefaults))
        let json = String(decoding: try JSONEncoder().encode(plain), as: UTF8.self)
        #expect(!json.contains("sealed"))
        #expect(try JSONDecoder().decode(NotificationsConfig.self, from: Data(json.utf8)) == plain)
    }

    @Test func rulesFollowTravis() {
        let email = NotificationsConfig.emailDefaults
        #expect(email.shouldNotify(finishedState: "passed", previousState: "passed") == false)
        #expect(email.shouldNotify(finishedState: "passed", previousState: "failed") == true)
        #expect(email.shouldNotify(finishedState: "passed", previousState: nil) == true)
        #expect(email.shouldNotify(finishedState: "failed", previousState: "failed") == true)
        #expect(email.shouldNotify(finishedState: nil, previousState: nil) == false)
        #expect(NotificationRules(onStart: .always).shouldNotify(finishedState: nil, previousState: nil))
        #expect(NotificationRules(onError: .never).shouldNotify(finishedState: "errored", previousState: nil) == false)
        #expect(TravisStatusMessage.message(state: "failed", previousState: "passed") == "Broken")
        #expect(TravisStatusMessage.message(state: "failed", previousState: "failed") == "Still Failing")
        #expect(TravisStatusMessage.message(state: "passed", previousState: "failed") == "Fixed")
    }
}
