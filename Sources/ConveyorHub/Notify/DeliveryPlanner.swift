import ConveyorCore
import ConveyorPostgres

/// Turns a build event into `deliveries` rows: one per webhook URL (when the build finishes, or
/// starts with `webhooks_on_start`) and one commit status (when a status API is configured).
/// The unique key (kind, target, build, event, run) makes a redelivered event a no-op.
struct DeliveryPlanner: Sendable {
    let context: NodeContext

    /// Returns the ids of the rows created now (already existing ones are the sweep's business).
    func plan(_ event: BuildEventMessage) async throws -> [Int64] {
        guard let build = try await BuildSnapshot.load(event.build, postgres: context.postgres) else { return [] }
        let state = event.state ?? build.state
        let settings = RepositoryNotifySettings(json: build.settingsJSON)
        var rows: [(kind: String, target: String, payload: String)] = []
        if event.isFinish || (event.type == "build:started" && settings.webhooksOnStart) {
            let payload = WebhookPayload(build, state: state, publicURL: context.settings.publicURL).json()
            rows += settings.webhooks.map { (kind: DeliveryKind.webhook, target: $0, payload: payload) }
        }
        if let base = context.settings.statusAPIURL, !base.isEmpty {
            let status = CommitStatus(buildState: state, number: build.number, buildID: build.id, publicURL: context.settings.publicURL)
            rows.append((kind: DeliveryKind.commitStatus, target: CommitStatus.url(base: base, slug: build.slug, sha: build.sha), payload: status.json()))
        }
        rows += try await ConfigNotifications(context: context).rows(for: event, build: build, state: state)
        var ids: [Int64] = []
        for row in rows {
            let inserted = try await context.postgres.query("""
                INSERT INTO deliveries (kind, target, event, build_id, payload, run) VALUES ($1, $2, $3, $4, $5::jsonb, $6)
                ON CONFLICT (kind, target, build_id, event, run) DO NOTHING RETURNING id
                """, [.text(row.kind), .text(row.target), .text(event.type), .int(event.build), .text(row.payload), .int(event.run)])
            if let id = inserted.first?["id"].int64 { ids.append(id) }
        }
        return ids
    }
}

enum DeliveryKind {
    static let webhook = "webhook"
    static let commitStatus = "commit_status"
    // From the build's config (docs/notifications.md).
    static let travisWebhook = "travis_webhook"
    static let email = "email"
    static let slack = "slack"
}
