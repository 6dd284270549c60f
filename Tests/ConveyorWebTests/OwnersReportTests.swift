import ConveyorCore
import Foundation
import HummingbirdTesting
import Testing
@testable import ConveyorWeb

/// `GET /api/v1/owners`: each owner's running and waiting jobs, counted over active jobs only.
@Suite struct OwnersReportTests {
    @Test func countsRunningAndWaitingJobsPerOwner() async throws {
        let web = try await WebFixture.make()
        // acme: one job of each state (1 created, 3 active, 2 final); idle: only a finished job; empty: no job at all.
        let acme = try await web.seed(slug: "acme/app", isPrivate: false)
        for (position, state) in [(2, "queued"), (3, "received"), (4, "started"), (5, "passed"), (6, "failed")] {
            try await web.context.postgres.query("""
                INSERT INTO jobs (build_id, repository_id, owner_id, number, position, queue, config, state)
                SELECT build_id, repository_id, owner_id, '1.' || $2::int, $2::int, 'default', '{}', $3 FROM jobs WHERE id = $1
                """, [.int(acme.job), .int(Int64(position)), .text(state)])
        }
        let idle = try await web.seed(slug: "idle/app", isPrivate: false)
        try await web.context.postgres.query("UPDATE jobs SET state = 'passed' WHERE id = $1", [.int(idle.job)])
        try await web.context.postgres.query("INSERT INTO owners (login, concurrency_limit) VALUES ('empty', 7)")
        try await web.test { client in
            try await client.execute(uri: "/api/v1/owners", method: .get) { response in
                let owners = response.json["owners"] as? [[String: Any]] ?? []
                let byLogin = Dictionary(uniqueKeysWithValues: owners.map { ($0["login"] as? String ?? "", $0) })
                #expect(owners.map { $0["login"] as? String } == ["acme", "empty", "idle"], "\(response.text)")
                #expect(byLogin["acme"]?["running"] as? Int == 3)
                #expect(byLogin["acme"]?["waiting"] as? Int == 1)
                #expect(byLogin["idle"]?["running"] as? Int == 0)
                #expect(byLogin["idle"]?["waiting"] as? Int == 0)
                #expect(byLogin["empty"]?["running"] as? Int == 0)
                #expect(byLogin["empty"]?["limit"] as? Int == 7)
            }
        }
    }
}
