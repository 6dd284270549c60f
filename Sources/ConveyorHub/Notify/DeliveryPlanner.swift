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
        var rows: [PlannedDelivery] = []
        if event.isFinish || (event.type == "build:started" && settings.webhooksOnStart) {
            let payload = WebhookPayload(build, state: state, publicURL: context.settings.publicURL).json()
            rows += settings.webhooks.map { PlannedDelivery(kind: DeliveryKind.webhook, target: $0, payload: payload) }
        }
        if let base = context.settings.statusAPIURL, !base.isEmpty {
            let status = CommitStatus(buildState: state, number: build.number, buildID: build.id, publicURL: context.settings.publicURL)
            rows.append(PlannedDelivery(kind: DeliveryKind.commitStatus, target: CommitStatus.url(base: base, slug: build.slug, sha: build.sha),
                                        payload: status.json()))
        }
        rows += try await ConfigNotifications(context: context).rows(for: event, build: build, state: state)
        var ids: [Int64] = []
        for row in rows {
            // A withheld row is only a record (state 'withheld', why in last_error): never sent.
            let inserted = try await context.postgres.query("""
                INSERT INTO deliveries (kind, target, event, build_id, payload, run, sealed_targets, state, last_error)
                VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::jsonb, CASE WHEN $8::text IS NULL THEN 'pending' ELSE 'withheld' END, $8::text)
                ON CONFLICT (kind, target, build_id, event, run) DO NOTHING RETURNING id
                """, [.text(row.kind), .text(row.target), .text(event.type), .int(event.build), .text(row.payload), .int(event.run),
                      .optional(row.sealed.map(SecureTargets.json)), .optional(row.withheld)])
            if let id = inserted.first?["id"].int64, row.withheld == nil { ids.append(id) }
        }
        return ids
    }
}

/// One `deliveries` row to insert. `sealed` maps the stand-ins in `target` to their ciphertexts
/// (docs/notifications.md); `withheld` says why a secure target is recorded but never sent.
struct PlannedDelivery: Sendable {
    var kind: String
    var target: String
    var payload: String
    var sealed: [String: String]? = nil
    var withheld: String? = nil
}

enum DeliveryKind {
    static let webhook = "webhook"
    static let commitStatus = "commit_status"
    // From the build's config (docs/notifications.md).
    static let travisWebhook = "travis_webhook"
    static let email = "email"
    static let slack = "slack"
}
