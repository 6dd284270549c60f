import ConveyorCore
import ConveyorHub
import ConveyorModel
import ConveyorPostgres

/// Auto-cancellation (docs/config.md): once a build is created, the older unfinished builds of the same
/// branch (pushes) or pull request are canceled through the hub's actions, with "superseded by build #N".
struct AutoCancel: Sendable {
    let context: NodeContext

    /// Returns the ids of the builds superseded.
    @discardableResult
    func supersede(by build: BuildWriter.CreatedBuild, of request: BuildRequest) async throws -> [Int64] {
        let policy = request.autoCancel
        guard let scope = policy.scope(eventType: request.eventType, branch: request.branch, tag: request.tag,
                                       pullRequest: request.pullRequest) else { return [] }
        let older: PostgresResult
        switch scope {
        case .branch(let branch):
            older = try await context.postgres.query("""
                SELECT id FROM builds WHERE repository_id = $1 AND number < $2 AND finished_at IS NULL
                  AND event_type = 'push' AND tag IS NULL AND branch = $3 ORDER BY id
                """, [.int(request.repositoryID), .int(build.number), .text(branch)])
        case .pullRequest(let number):
            older = try await context.postgres.query("""
                SELECT b.id FROM builds b JOIN requests q ON q.id = b.request_id
                WHERE b.repository_id = $1 AND b.number < $2 AND b.finished_at IS NULL
                  AND b.event_type = 'pull_request' AND q.pull_request = $3 ORDER BY b.id
                """, [.int(request.repositoryID), .int(build.number), .int(number)])
        }
        let ids = older.rows.compactMap { $0["id"].int64 }
        let actions = HubActions(context: context)
        let reason = AutoCancelPolicy.reason(supersededBy: build.number)
        for id in ids {
            let canceled = try await actions.supersede(build: id, reason: reason, policy: policy)
            context.logger.info("build superseded", metadata: ["build": "\(id)", "by": "\(build.number)", "jobs": "\(canceled)"])
        }
        return ids
    }
}
