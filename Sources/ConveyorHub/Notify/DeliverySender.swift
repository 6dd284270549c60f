import ConveyorCore
import ConveyorHTTPClient
import ConveyorPostgres
import ConveyorSecrets

/// Sends one due delivery and records the attempt: claimed first (hidden from other senders for a
/// while), then delivered on a 2xx answer, or rescheduled with exponential backoff, or `failed`
/// after the last attempt.
struct DeliverySender: Sendable {
    let context: NodeContext
    let http: CurlHTTPClient
    let configuration: NotifyConfiguration
    let keys: DeliveryKeys

    struct Claimed: Sendable {
        var id: Int64
        var kind: String
        var target: String
        var event: String
        var body: String
        var attempts: Int
        var settingsJSON: String?
        var slug: String?
        var repositoryID: Int64?
        /// Stand-in → ciphertext of `secure:` targets (docs/notifications.md).
        var sealedJSON: String?
    }

    /// Ids of pending deliveries whose time has come.
    func due(limit: Int = 50) async throws -> [Int64] {
        try await context.postgres.query("""
            SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_at <= now() ORDER BY next_attempt_at, id LIMIT $1
            """, limit).rows.compactMap { $0["id"].int64 }
    }

    /// Sends a delivery if it is still pending and due (another node may have taken it).
    func deliver(_ id: Int64) async throws {
        guard var claimed = try await claim(id) else { return }
        var status: Int?
        var failure: String?
        // Secure targets are opened here, the last moment; the plaintext is in this request only.
        var opened = SecureTargets.Opened(target: claimed.target, redactions: [])
        if let sealedJSON = claimed.sealedJSON {
            do {
                opened = try SecureTargets.open(target: claimed.target, sealedJSON: sealedJSON, key: try await keys.key(repository: claimed.repositoryID).get())
                claimed.target = opened.target
                if claimed.kind == DeliveryKind.slack {
                    let (url, channel) = SlackNotifier.split(room: opened.target)
                    claimed.target = url
                    if let channel { claimed.body = SlackNotifier.payload(claimed.body, channel: channel) }
                }
            } catch {
                failure = "the secure target could not be opened: \(error)"
            }
        }
        // A target that could not be opened is not sent; it is retried like a failed send (the key may be configured meanwhile).
        if failure == nil {
            if claimed.kind == DeliveryKind.email {
                failure = await EmailNotifier.send(target: claimed.target, payloadJSON: claimed.body, deliveryID: claimed.id, settings: context.settings)
            } else {
                do {
                    let response = try await http.send(await makeRequest(claimed))
                    status = response.status
                    if !(200..<300).contains(response.status) { failure = "HTTP \(response.status): \(String(response.bodyText.prefix(200)))" }
                } catch {
                    failure = "\(error)"
                }
            }
        }
        failure = failure.map(opened.redact)
        let attempts = claimed.attempts + 1
        let delivered = failure == nil
        let backoff = configuration.backoffSeconds(afterAttempt: attempts)
        let state = try await context.postgres.query("""
            UPDATE deliveries SET attempts = $2::int, last_status = $3::int, last_error = $4::text,
                state = CASE WHEN $5::boolean THEN 'delivered' WHEN $2::int >= $6::int THEN 'failed' ELSE 'pending' END,
                delivered_at = CASE WHEN $5::boolean THEN now() ELSE NULL END,
                next_attempt_at = now() + make_interval(secs => $7::double precision)
            WHERE id = $1 RETURNING state
            """, [.int(id), .int(attempts), .optional(status), .optional(failure), .bool(delivered), .int(configuration.maxAttempts), .double(backoff)])
            .first?["state"].string ?? "pending"
        HubMetrics.notification(kind: claimed.kind, outcome: state == "pending" ? "retry" : state)
        if let failure {
            context.logger.warning("notification failed", metadata: ["delivery": "\(id)", "kind": "\(claimed.kind)", "attempt": "\(attempts)",
                                                                     "state": "\(state)", "error": "\(failure)"])
        }
    }

    private func claim(_ id: Int64) async throws -> Claimed? {
        guard let row = try await context.postgres.query("""
            UPDATE deliveries d SET next_attempt_at = now() + make_interval(secs => $2::double precision)
            WHERE d.id = $1 AND d.state = 'pending' AND d.next_attempt_at <= now()
            RETURNING d.id, d.kind, d.target, d.event, d.payload::text AS body, d.attempts,
                (SELECT r.settings::text FROM builds b JOIN repositories r ON r.id = b.repository_id WHERE b.id = d.build_id) AS settings,
                (SELECT r.slug FROM builds b JOIN repositories r ON r.id = b.repository_id WHERE b.id = d.build_id) AS slug,
                (SELECT b.repository_id FROM builds b WHERE b.id = d.build_id) AS repository_id, d.sealed_targets::text AS sealed
            """, [.int(id), .double(configuration.claimSeconds)]).first else { return nil }
        return Claimed(id: try row.decode("id"), kind: try row.decode("kind"), target: try row.decode("target"), event: try row.decode("event"),
                       body: try row.decode("body"), attempts: try row.decode("attempts"), settingsJSON: try row.decode("settings"),
                       slug: row["slug"].string, repositoryID: row["repository_id"].int64, sealedJSON: row["sealed"].string)
    }

    private func makeRequest(_ delivery: Claimed) async -> HTTPRequest {
        let body = Array(delivery.body.utf8)
        var headers: [(String, String)] = [("Content-Type", "application/json"), ("User-Agent", "Conveyor")]
        switch delivery.kind {
        case DeliveryKind.travisWebhook:
            let signature = await keys.travisSignature(repository: delivery.repositoryID, payload: delivery.body)
            return TravisWebhookPayload.request(target: delivery.target, payloadJSON: delivery.body, slug: delivery.slug ?? "", signature: signature,
                                                timeout: configuration.requestTimeout)
        case DeliveryKind.slack:
            return SlackNotifier.request(target: delivery.target, payloadJSON: delivery.body, timeout: configuration.requestTimeout)
        case DeliveryKind.commitStatus:
            headers.append(("Accept", "application/vnd.github+json"))
            if let token = context.settings.statusAPIToken, !token.isEmpty { headers.append(("Authorization", "token \(token)")) }
        default:
            headers += [("X-Conveyor-Event", delivery.event), ("X-Conveyor-Delivery", String(delivery.id))]
            // The inbound GitHub secret never signs what we send: a receiver could then forge webhooks to us.
            let secret = RepositoryNotifySettings(json: delivery.settingsJSON).webhookSecret ?? context.settings.notificationSecret
            if let secret, !secret.isEmpty {
                headers.append(("X-Conveyor-Signature", WebhookSignature.hmacSHA256Hex(secret: secret, body: body)))
            }
        }
        // Only the status and the start of the body are kept.
        return HTTPRequest(method: "POST", url: delivery.target, headers: headers, body: body, timeout: configuration.requestTimeout,
                           maxResponseBytes: 64 * 1024)
    }
}
