import ConveyorCore
import ConveyorLogs
import ConveyorPostgres
import ConveyorTesting
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
@testable import ConveyorWeb

/// The web role's router on a fresh database and key prefix (real PostgreSQL and Redis), driven
/// in-process with Hummingbird's `.router` test client, or over a real socket with `.live`.
struct WebFixture: Sendable {
    static let token = "web-test-token"
    static let secret = "global-hook-secret"

    let context: NodeContext
    let fanout: EventFanout

    static func make(token: String? = WebFixture.token, configure: (inout Settings) -> Void = { _ in }) async throws -> WebFixture {
        let context = try await TestEnvironment.context(roles: [.web]) { settings in
            settings.apiToken = token
            settings.insecureNoAuth = token == nil
            settings.webhookSecret = secret
            configure(&settings)
        }
        return WebFixture(context: context, fanout: EventFanout(context: context))
    }

    func app() throws -> some ApplicationProtocol {
        Application(router: try WebService.router(context: context, logStore: LogStore(context: context, archive: nil), fanout: fanout, metricsText: { "" }))
    }

    func test(_ setup: TestingSetup = .router, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await app().test(setup, body)
    }

    // MARK: seeding

    /// A repository with one build of one job and its request.
    @discardableResult
    func seed(slug: String, isPrivate: Bool, secret: String? = nil) async throws -> (repo: Int64, request: Int64, build: Int64, job: Int64) {
        let owner = String(slug.split(separator: "/")[0])
        let pg = context.postgres
        let ownerID: Int64 = try await pg.query("INSERT INTO owners (login) VALUES ($1) ON CONFLICT (login) DO UPDATE SET login = EXCLUDED.login RETURNING id", [.text(owner)]).first!.decode("id")
        let repo: Int64 = try await pg.query("INSERT INTO repositories (owner_id, slug, url, private, webhook_secret) VALUES ($1, $2, $3, $4, $5) RETURNING id",
                                             [.int(ownerID), .text(slug), .text("file:///srv/\(slug).git"), .bool(isPrivate), .optional(secret)]).first!.decode("id")
        let request: Int64 = try await pg.query("INSERT INTO requests (repository_id, event_type, branch, sha) VALUES ($1, 'api', 'main', $2) RETURNING id",
                                                [.int(repo), .text(String(repeating: "a", count: 40))]).first!.decode("id")
        let build: Int64 = try await pg.query("""
            INSERT INTO builds (repository_id, request_id, number, event_type, branch, sha, config) VALUES ($1, $2, 1, 'api', 'main', $3, '{}') RETURNING id
            """, [.int(repo), .int(request), .text(String(repeating: "a", count: 40))]).first!.decode("id")
        let job: Int64 = try await pg.query("""
            INSERT INTO jobs (build_id, repository_id, owner_id, number, position, queue, config) VALUES ($1, $2, $3, '1.1', 1, 'default', '{}') RETURNING id
            """, [.int(build), .int(repo), .int(ownerID)]).first!.decode("id")
        return (repo, request, build, job)
    }

    func count(_ sql: String, _ params: [PostgresValue] = []) async throws -> Int {
        try await context.postgres.query(sql, params).first!.decode("n")
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
    var errorMessage: String { json["error"] as? String ?? "" }
}

enum Bodies {
    static func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }
    static let sha = "0123456789abcdef0123456789abcdef01234567"

    static func sign(_ body: [UInt8], _ secret: String) -> String {
        "sha256=" + HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8))).map { String(format: "%02x", $0) }.joined()
    }
}

extension HTTPFields {
    static let bearer: HTTPFields = [.authorization: "Bearer \(WebFixture.token)", .contentType: "application/json"]
    static func webhook(_ event: String, _ body: [UInt8], secret: String = WebFixture.secret, delivery: String? = nil) -> HTTPFields {
        var fields: HTTPFields = [HTTPField.Name("X-GitHub-Event")!: event, HTTPField.Name("X-Hub-Signature-256")!: Bodies.sign(body, secret),
                                  .contentType: "application/json"]
        if let delivery { fields[HTTPField.Name("X-GitHub-Delivery")!] = delivery }
        return fields
    }
}
