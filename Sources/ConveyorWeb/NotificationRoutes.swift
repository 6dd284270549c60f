import ConveyorCore
import ConveyorPostgres
import Hummingbird

/// `GET /api/v1/builds/{id}/notifications`: every delivery of a build (settings webhooks, commit
/// statuses, and the config's webhooks, email and Slack), with its attempts and last answer.
struct NotificationRoutes: Sendable {
    let context: NodeContext
    let access: Access

    struct Delivery: Codable, Sendable {
        var id: Int64
        var kind: String
        var target: String
        var event: String
        var run: Int
        var state: String
        var attempts: Int
        var lastStatus: Int?
        var lastError: String?
        var createdAt: String
        var deliveredAt: String?
        var nextAttemptAt: String?

        enum CodingKeys: String, CodingKey {
            case id, kind, target, event, run, state, attempts
            case lastStatus = "last_status", lastError = "last_error", createdAt = "created_at", deliveredAt = "delivered_at", nextAttemptAt = "next_attempt_at"
        }
    }

    struct Listing: Codable, Sendable, ResponseEncodable {
        var build: Int64
        var notifications: [Delivery]
    }

    func register<C: RequestContext>(on router: Router<C>) {
        router.get("/api/v1/builds/:id/notifications") { request, ctx -> Listing in
            let build = try ctx.parameters.id("id")
            let caller = try access.caller(request)
            let visible = "SELECT 1 FROM builds b JOIN repositories r ON r.id = b.repository_id WHERE b.id = $1 AND ($2 OR NOT r.private)"
            guard try await context.postgres.read(visible, [.int(build), .bool(caller.seesPrivate)]).first != nil else {
                throw APIError(.notFound, "unknown build \(build)")
            }
            return Listing(build: build, notifications: try await list(build: build))
        }
    }

    func list(build: Int64) async throws -> [Delivery] {
        try await context.postgres.read("""
            SELECT id, kind, target, event, run, state, attempts, last_status, last_error,
                   \(iso("created_at")), \(iso("delivered_at")), \(iso("next_attempt_at"))
            FROM deliveries WHERE build_id = $1 ORDER BY id
            """, [.int(build)]).rows.map { row in
            // An email's target is its recipients; a Slack or webhook URL may carry a token, so only its origin is shown.
            Delivery(id: try row.decode("id"), kind: try row.decode("kind"), target: Self.shown(kind: try row.decode("kind"), target: try row.decode("target")),
                     event: try row.decode("event"), run: try row.decode("run"), state: try row.decode("state"), attempts: try row.decode("attempts"),
                     lastStatus: row["last_status"].int, lastError: row["last_error"].string, createdAt: row["created_at"].string ?? "",
                     deliveredAt: row["delivered_at"].string, nextAttemptAt: row["state"].string == "pending" ? row["next_attempt_at"].string : nil)
        }
    }

    static func shown(kind: String, target: String) -> String {
        guard kind != "email", let scheme = target.range(of: "://") else { return target }
        let rest = target[scheme.upperBound...]
        let host = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let hostOnly = host.split(separator: "@").last.map(String.init) ?? String(host)
        return String(target[..<scheme.upperBound]) + hostOnly + (rest.count > host.count ? "/…" : "")
    }
}
