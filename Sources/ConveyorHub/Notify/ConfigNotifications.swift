import ConveyorCore
import ConveyorModel
import ConveyorPostgres
import Foundation

/// Deliveries asked for by the build's own config (`notifications:` — webhooks with Travis's payload,
/// email, Slack), planned next to the repository's settings webhooks and sent by the same outbox with
/// the same retries. See docs/notifications.md.
struct ConfigNotifications: Sendable {
    let context: NodeContext

    /// What the config's notifications need besides the snapshot.
    struct Facts: Sendable {
        var config: NotificationsConfig
        var previousState: String?
        var commitEmails: [String]
        var pullRequest: Int?
    }

    func rows(for event: BuildEventMessage, build: BuildSnapshot, state: String) async throws -> [(kind: String, target: String, payload: String)] {
        // Only a start or a finish notifies; `build:created` never does.
        guard event.isFinish || event.type == "build:started" else { return [] }
        guard let facts = try await facts(build.id) else { return [] }
        let finished: String? = event.isFinish ? state : nil
        var rows: [(kind: String, target: String, payload: String)] = []
        if let webhooks = facts.config.webhooks, webhooks.rules.shouldNotify(finishedState: finished, previousState: facts.previousState) {
            let payload = TravisWebhookPayload.json(build, state: state, previousState: facts.previousState, publicURL: context.settings.publicURL)
            rows += webhooks.urls.map { (kind: DeliveryKind.travisWebhook, target: $0, payload: payload) }
        }
        if let email = facts.config.email, context.settings.smtpURL != nil,
           email.rules.shouldNotify(finishedState: finished, previousState: facts.previousState) {
            let recipients = email.recipients.isEmpty ? facts.commitEmails : email.recipients
            if !recipients.isEmpty {
                let message = EmailNotifier.message(build, state: state, previousState: facts.previousState, publicURL: context.settings.publicURL)
                rows.append((kind: DeliveryKind.email, target: recipients.joined(separator: ","), payload: message.json()))
            }
        }
        if let slack = facts.config.slack, slack.onPullRequests || facts.pullRequest == nil,
           slack.rules.shouldNotify(finishedState: finished, previousState: facts.previousState) {
            for room in slack.rooms {
                let (url, channel) = SlackNotifier.split(room: room)
                let payload = SlackNotifier.payload(build, state: state, template: slack.template, channel: channel, pullRequest: facts.pullRequest,
                                                    publicURL: context.settings.publicURL)
                rows.append((kind: DeliveryKind.slack, target: url, payload: payload))
            }
        }
        return rows
    }

    /// The build's `notifications` (absent for builds stored before they were kept), the state of the
    /// branch's previous finished build (not pull requests), and the commit's emails from a push payload.
    func facts(_ build: Int64) async throws -> Facts? {
        guard let row = try await context.postgres.query("""
            SELECT b.config->'notifications' AS notifications, rq.payload::text AS payload, rq.pull_request,
                   (SELECT p.state FROM builds p
                    WHERE p.repository_id = b.repository_id AND p.branch = b.branch AND p.id < b.id AND p.event_type <> 'pull_request'
                      AND p.state IN ('passed', 'failed', 'errored', 'canceled')
                    ORDER BY p.id DESC LIMIT 1) AS previous
            FROM builds b JOIN requests rq ON rq.id = b.request_id WHERE b.id = $1
            """, [.int(build)]).first,
            let text = row["notifications"].string,
            let config = try? JSONDecoder().decode(NotificationsConfig.self, from: Data(text.utf8)) else { return nil }
        return Facts(config: config, previousState: row["previous"].string, commitEmails: Self.commitEmails(payload: row["payload"].string),
                     pullRequest: row["pull_request"].int)
    }

    /// The author's and committer's addresses of a GitHub push payload's head commit.
    static func commitEmails(payload: String?) -> [String] {
        guard let payload, let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any],
              let head = object["head_commit"] as? [String: Any] else { return [] }
        var emails: [String] = []
        for role in ["author", "committer"] {
            if let email = (head[role] as? [String: Any])?["email"] as? String, email.contains("@"), !emails.contains(email),
               !email.hasSuffix("@users.noreply.github.com") {
                emails.append(email)
            }
        }
        return emails
    }
}
