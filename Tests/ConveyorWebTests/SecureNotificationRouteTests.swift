import ConveyorCore
import ConveyorHTTPClient
import ConveyorHub
import ConveyorModel
import ConveyorSecrets
import ConveyorTesting
import Foundation
import HummingbirdTesting
import Testing
@testable import ConveyorWeb

/// A receiver's view of notifications, end to end on real servers: the public key comes from
/// `GET /api/v1/repos/{o}/{n}/key`, the hub delivers a config webhook signed with the repository's
/// key and a `secure:` webhook to a local receiver, `openssl` verifies the signature with the API's
/// key, and `GET /api/v1/builds/{id}/notifications` shows the secure target only as its stand-in.
@Suite struct SecureNotificationRouteTests {
    @Test func theAPIKeyVerifiesTheSignatureAndTheListingHidesSecureTargets() async throws {
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let web = try await WebFixture.make { $0.secretsKey = ClusterKey.generate() }
        let seeded = try await web.seed(slug: "octo/signed", isPrivate: false)
        let hiddenPath = "/hidden/\(UUID().uuidString.prefix(12))"
        let hiddenURL = receiver.url + hiddenPath
        try await web.test { client in
            let publicKey = try await client.execute(uri: "/api/v1/repos/octo/signed/key", method: .get) { response -> String in
                #expect(response.status == .ok)
                return response.json["public_key"] as? String ?? ""
            }
            let config = NotificationsConfig(webhooks: .init(urls: [receiver.url + "/plain"], rules: NotificationsConfig.webhookDefaults,
                                                             sealed: [try SecureValueCipher.encrypt(hiddenURL, publicKeyPEM: publicKey)]))
            try await web.context.postgres.query("UPDATE builds SET config = jsonb_build_object('notifications', $2::jsonb) WHERE id = $1",
                                                 [.int(seeded.build), .text(String(decoding: try JSONEncoder().encode(config), as: UTF8.self))])
            let http = CurlHTTPClient()
            let fast = NotifyConfiguration(retryBaseSeconds: 0.2, sweepInterval: .milliseconds(100), requestTimeout: .seconds(5), claimSeconds: 10)
            try await withServices([HubService(context: web.context), NotifyService(context: web.context, http: http, configuration: fast)]) {
                let base: Int64 = 1_700_000_000_000
                for event in [JobEvent(kind: .queued, attempt: 1, seq: 0, at: base), JobEvent(kind: .received, attempt: 1, seq: 1, at: base + 1_000),
                              JobEvent(kind: .started, attempt: 1, seq: 2, at: base + 2_000),
                              JobEvent(kind: .finished, attempt: 1, seq: 3, at: base + 9_000, result: .passed, receivedAt: base + 1_000, startedAt: base + 2_000)] {
                    _ = try await web.context.redis.xadd(web.context.keys.state, fields: StateUpdate(job: seeded.job, event: event, worker: "w1").fields)
                }
                #expect(try await eventually { receiver.requests(path: "/plain").count == 1 && receiver.requests(path: hiddenPath).count == 1 })
            }
            await http.shutdown()

            // What a receiver does: the `payload` form value, the `Signature` header, the key from the API.
            for request in receiver.requests {
                let payload = String(request.bodyText.dropFirst("payload=".count)).removingPercentEncoding ?? ""
                let signature = try #require(request.headers["signature"])
                #expect(try await opensslVerifiesTravisSignature(payload: payload, signature: signature, publicKeyPEM: publicKey))
            }

            let listing = try await client.execute(uri: "/api/v1/builds/\(seeded.build)/notifications", method: .get, headers: .bearer) { $0.text }
            let rows = (try JSONSerialization.jsonObject(with: Data(listing.utf8)) as? [String: Any])?["notifications"] as? [[String: Any]] ?? []
            let standIn = SecureStandIn.of(ciphertext: try #require(config.webhooks?.sealed?.first))
            #expect(rows.contains { $0["target"] as? String == standIn })
            #expect(rows.count == 2 && rows.allSatisfy { $0["state"] as? String == "delivered" })
            #expect(!listing.contains(hiddenPath), "the listing shows the secure target: \(listing)")
        }
        await web.context.close()
    }
}
