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
        /// The head commit's author (push payloads), else who sent the event.
        var author: String?
        /// Set for a pull request from a fork: its secure targets are withheld, as Travis does.
        var fork: PullRequestOrigin?
    }

    func rows(for event: BuildEventMessage, build: BuildSnapshot, state: String) async throws -> [PlannedDelivery] {
        // Only a start or a finish notifies; `build:created` never does.
        guard event.isFinish || event.type == "build:started" else { return [] }
        guard let facts = try await facts(build.id, slug: build.slug) else { return [] }
        let finished: String? = event.isFinish ? state : nil
        let withheld = facts.fork.map { fork -> String in
            let from = if case .fork(let head?) = fork { " (\(head))" } else { "" }
            return "secure target withheld: this pull request comes from a fork\(from), and a fork's build gets no secure values"
        }
        var rows: [PlannedDelivery] = []
        if let webhooks = facts.config.webhooks, webhooks.rules.shouldNotify(finishedState: finished, previousState: facts.previousState) {
            let payload = TravisWebhookPayload.json(build, state: state, previousState: facts.previousState, publicURL: context.settings.publicURL)
            rows += webhooks.urls.map { PlannedDelivery(kind: DeliveryKind.travisWebhook, target: $0, payload: payload) }
            rows += Self.secureRows(kind: DeliveryKind.travisWebhook, ciphertexts: webhooks.sealed, payload: payload, withheld: withheld)
        }
        if let email = facts.config.email, context.settings.smtpURL != nil,
           email.rules.shouldNotify(finishedState: finished, previousState: facts.previousState) {
            let secure = email.sealed ?? []
            let sealed = withheld == nil ? SecureTargets.sealedMap(secure) : [:]
            let recipients = email.recipients.isEmpty && secure.isEmpty ? facts.commitEmails : email.recipients + sealed.keys.sorted()
            let message = EmailNotifier.message(build, state: state, previousState: facts.previousState, publicURL: context.settings.publicURL)
            if !recipients.isEmpty {
                rows.append(PlannedDelivery(kind: DeliveryKind.email, target: recipients.joined(separator: ","), payload: message.json(),
                                            sealed: sealed.isEmpty ? nil : sealed))
            }
            if let withheld, !secure.isEmpty {
                rows.append(PlannedDelivery(kind: DeliveryKind.email, target: SecureTargets.sealedMap(secure).keys.sorted().joined(separator: ","),
                                            payload: message.json(), withheld: withheld))
            }
        }
        if let slack = facts.config.slack, slack.onPullRequests || facts.pullRequest == nil,
           slack.rules.shouldNotify(finishedState: finished, previousState: facts.previousState) {
            func payload(channel: String?) -> String {
                SlackNotifier.payload(build, state: state, template: slack.template, channel: channel, pullRequest: facts.pullRequest,
                                      author: facts.author, publicURL: context.settings.publicURL)
            }
            for room in slack.rooms {
                let (url, channel) = SlackNotifier.split(room: room)
                rows.append(PlannedDelivery(kind: DeliveryKind.slack, target: url, payload: payload(channel: channel)))
            }
            // A secure room's channel is only known once it is decrypted: the sender adds it.
            rows += Self.secureRows(kind: DeliveryKind.slack, ciphertexts: slack.sealed, payload: payload(channel: nil), withheld: withheld)
        }
        return rows
    }

    /// One row per `secure:` target: to send (its ciphertext kept sealed), or withheld with why.
    static func secureRows(kind: String, ciphertexts: [String]?, payload: String, withheld: String?) -> [PlannedDelivery] {
        SecureTargets.sealedMap(ciphertexts ?? []).sorted { $0.key < $1.key }.map { standIn, ciphertext in
            PlannedDelivery(kind: kind, target: standIn, payload: payload, sealed: withheld == nil ? [standIn: ciphertext] : nil, withheld: withheld)
        }
    }

    /// The build's `notifications` (absent for builds stored before they were kept), the state of the
    /// branch's previous finished build (not pull requests), the commit's emails and author from a push
    /// payload, and whether a pull request comes from a fork (decided as the gatekeeper does).
    func facts(_ build: Int64, slug: String) async throws -> Facts? {
        guard let row = try await context.postgres.query("""
            SELECT b.config->'notifications' AS notifications, rq.payload::text AS payload, rq.pull_request, rq.sender, b.event_type,
                   rq.payload->'pull_request'->'head'->'repo'->>'full_name' AS head_repo,
                   (rq.payload->'pull_request'->'head' ? 'repo' AND jsonb_typeof(rq.payload->'pull_request'->'head'->'repo') = 'null') AS head_repo_gone,
                   (SELECT p.state FROM builds p
                    WHERE p.repository_id = b.repository_id AND p.branch = b.branch AND p.id < b.id AND p.event_type <> 'pull_request'
                      AND p.state IN ('passed', 'failed', 'errored', 'canceled')
                    ORDER BY p.id DESC LIMIT 1) AS previous
            FROM builds b JOIN requests rq ON rq.id = b.request_id WHERE b.id = $1
            """, [.int(build)]).first,
            let text = row["notifications"].string,
            let config = try? JSONDecoder().decode(NotificationsConfig.self, from: Data(text.utf8)) else { return nil }
        var fork: PullRequestOrigin?
        if row["event_type"].string == "pull_request" {
            let head = PullRequestHead(repo: row["head_repo"].string, repoGone: row["head_repo_gone"].bool ?? false)
            if head.isFork(of: slug) { fork = .fork(head: head.repo) }
        }
        let payload = row["payload"].string
        return Facts(config: config, previousState: row["previous"].string, commitEmails: Self.commitEmails(payload: payload),
                     pullRequest: row["pull_request"].int, author: Self.commitAuthor(payload: payload) ?? row["sender"].string, fork: fork)
    }

    /// The name of a GitHub push payload's head commit author.
    static func commitAuthor(payload: String?) -> String? {
        guard let payload, let object = try? JSONSerialization.jsonObject(with: Data(payload.utf8)) as? [String: Any],
              let name = ((object["head_commit"] as? [String: Any])?["author"] as? [String: Any])?["name"] as? String, !name.isEmpty else { return nil }
        return name
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
