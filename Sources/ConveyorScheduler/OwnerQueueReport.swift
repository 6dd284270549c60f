import ConveyorCore
import ConveyorRedis

/// Why each of an owner's jobs waits: the figures of the seed's log line plus, per waiting job,
/// its position and the limit that holds it (owner, repository, queue) or its stage.
public struct OwnerQueueReport: Sendable, Encodable {
    public struct WaitingJob: Sendable, Encodable {
        public var job: Int64
        public var position: Int
        public var repo: String
        public var queue: String
        public var reason: String
    }

    public var owner: String
    public var max: Int
    public var running: Int
    public var waiting: Int
    public var queueable: Int
    public var runningJobs: [Int64]
    public var jobs: [WaitingJob]

    enum CodingKeys: String, CodingKey {
        case owner, max, running, waiting, queueable, jobs
        case runningJobs = "running_jobs"
    }

    public static func make(owner: String, context: NodeContext) async throws -> OwnerQueueReport? {
        let keys = context.keys
        let replies = try await context.redis.pipeline([
            ["ZRANGE", RedisArgument(keys.waiting(owner)), "0", "499"],
            ["ZRANGE", RedisArgument(keys.running(owner)), "0", "-1"],
            ["HGETALL", RedisArgument(keys.limits(owner))],
            ["HGETALL", RedisArgument(keys.jobInfo(owner))],
        ])
        let waitingIDs = (replies[0].array ?? []).compactMap(\.int)
        let runningIDs = (replies[1].array ?? []).compactMap(\.int)
        let limits = replies[2].stringPairs
        let info = replies[3].stringPairs
        let known = try await context.postgres.query("SELECT concurrency_limit FROM owners WHERE login = $1", [.text(owner)])
        guard let ownerRow = known.first else { return nil }
        let max = Int(limits["max"] ?? "") ?? ownerRow["concurrency_limit"].int ?? context.settings.defaultOwnerLimit
        var byRepo: [String: Int] = [:], byQueue: [String: Int] = [:]
        func split(_ id: Int64) -> (String, String) {
            let parts = (info[String(id)] ?? "\t").split(separator: "\t", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            return (parts.first ?? "", parts.count > 1 ? parts[1] : "")
        }
        for id in runningIDs {
            let (repo, queue) = split(id)
            byRepo[repo, default: 0] += 1
            byQueue[queue, default: 0] += 1
        }
        var count = runningIDs.count
        var jobs: [WaitingJob] = []
        var queueable = 0
        for (index, id) in waitingIDs.enumerated() {
            let (repo, queue) = split(id)
            let reason: String
            if count >= max {
                reason = "owner limit (\(count)/\(max) running)"
            } else if let limit = Int(limits["repo:\(repo)"] ?? ""), byRepo[repo, default: 0] >= limit {
                reason = "repository limit (\(limit))"
            } else if let limit = Int(limits["queue:\(queue)"] ?? ""), byQueue[queue, default: 0] >= limit {
                reason = "queue limit (\(queue): \(limit))"
            } else {
                reason = "queueable: admitted at the next evaluation"
                count += 1
                queueable += 1
                byRepo[repo, default: 0] += 1
                byQueue[queue, default: 0] += 1
            }
            jobs.append(WaitingJob(job: id, position: index + 1, repo: repo, queue: queue, reason: reason))
        }
        // Jobs of later stages are not in the waiting set yet.
        let staged = try await context.postgres.query("""
            SELECT j.id, j.queue, r.slug, j.stage FROM jobs j JOIN owners o ON o.id = j.owner_id JOIN repositories r ON r.id = j.repository_id
            WHERE o.login = $1 AND j.state = 'created' AND j.stage_index > (SELECT min(k.stage_index) FROM jobs k WHERE k.build_id = j.build_id
                  AND k.state NOT IN ('passed', 'failed', 'errored', 'canceled'))
            ORDER BY j.id LIMIT 200
            """, [.text(owner)])
        for row in staged.rows {
            jobs.append(WaitingJob(job: row["id"].int64 ?? 0, position: jobs.count + 1, repo: row["slug"].string ?? "",
                                   queue: row["queue"].string ?? "", reason: "stage: waits for earlier stage \(row["stage"].string.map { "before \($0)" } ?? "")"))
        }
        return OwnerQueueReport(owner: owner, max: max, running: runningIDs.count, waiting: waitingIDs.count, queueable: queueable,
                                runningJobs: runningIDs, jobs: jobs)
    }
}
