import ConveyorCore
import ConveyorModel
import ConveyorPostgres
import ConveyorScheduler
import Foundation
import Hummingbird

// The web role's JSON answers, one type each (docs/api.md). Rows are decoded with
// `PostgresRow.decode`, so a NOT NULL column that is missing is an error, never a made-up 0.

struct BuildJSON: ResponseEncodable, Sendable {
    var id: Int64
    var number: Int
    var repo: String
    var state: String
    var branch: String?
    var sha: String?
    var tag: String?
    var commitMessage: String?
    var eventType: String?
    var fastFinish: Bool
    var stages: JSONValue
    var createdAt: String?
    var startedAt: String?
    var finishedAt: String?

    enum CodingKeys: String, CodingKey {
        case id, number, repo, state, branch, sha, tag, stages
        case commitMessage = "commit_message", eventType = "event_type", fastFinish = "fast_finish"
        case createdAt = "created_at", startedAt = "started_at", finishedAt = "finished_at"
    }

    static let columns = """
        b.id, b.number, r.slug AS repo, b.state, b.branch, b.sha, b.tag, b.commit_message, b.event_type, b.fast_finish, b.stages::text AS stages,
        \(iso("b.created_at")), \(iso("b.started_at")), \(iso("b.finished_at"))
        """

    init(row: PostgresRow) throws {
        id = try row.decode("id")
        number = try row.decode("number")
        repo = try row.decode("repo")
        state = try row.decode("state")
        branch = try row.decode("branch")
        sha = try row.decode("sha")
        tag = try row.decode("tag")
        commitMessage = try row.decode("commit_message")
        eventType = try row.decode("event_type")
        fastFinish = try row.decode("fast_finish")
        stages = try JSONText.value(row.decode("stages", as: String?.self)) ?? .array([])
        createdAt = try row.decode("created_at")
        startedAt = try row.decode("started_at")
        finishedAt = try row.decode("finished_at")
    }
}

struct JobJSON: ResponseEncodable, Sendable {
    var id: Int64
    var buildID: Int64
    var number: String
    var state: String
    var stage: String?
    var stageIndex: Int
    var allowFailure: Bool
    var attempt: Int
    var queue: String?
    var worker: String?
    var finishedReason: String?
    var config: JSONValue
    var createdAt: String?
    var queuedAt: String?
    var receivedAt: String?
    var startedAt: String?
    var finishedAt: String?

    enum CodingKeys: String, CodingKey {
        case id, number, state, stage, attempt, queue, worker, config
        case buildID = "build_id", stageIndex = "stage_index", allowFailure = "allow_failure", finishedReason = "finished_reason"
        case createdAt = "created_at", queuedAt = "queued_at", receivedAt = "received_at", startedAt = "started_at", finishedAt = "finished_at"
    }

    static let columns = """
        j.id, j.build_id, j.number, j.state, j.stage, j.stage_index, j.allow_failure, j.attempt, j.queue, j.worker, j.finished_reason, j.config::text AS config,
        \(iso("j.created_at")), \(iso("j.queued_at")), \(iso("j.received_at")), \(iso("j.started_at")), \(iso("j.finished_at"))
        """

    init(row: PostgresRow) throws {
        id = try row.decode("id")
        buildID = try row.decode("build_id")
        number = try row.decode("number")
        state = try row.decode("state")
        stage = try row.decode("stage")
        stageIndex = try row.decode("stage_index")
        allowFailure = try row.decode("allow_failure")
        attempt = try row.decode("attempt")
        queue = try row.decode("queue")
        worker = try row.decode("worker")
        finishedReason = try row.decode("finished_reason")
        config = .null
        if let text = try row.decode("config", as: String?.self), let spec = try? JSONDecoder().decode(JobSpec.self, from: Data(text.utf8)) {
            config = spec.expandedJSON()
        }
        createdAt = try row.decode("created_at")
        queuedAt = try row.decode("queued_at")
        receivedAt = try row.decode("received_at")
        startedAt = try row.decode("started_at")
        finishedAt = try row.decode("finished_at")
    }
}

struct RepoJSON: ResponseEncodable, Sendable {
    var id: Int64
    var slug: String
    var `private`: Bool
    /// The git remote; only trusted callers see it (docs/api.md#authentication).
    var url: String?
    var lastBuild: BuildJSON?

    enum CodingKeys: String, CodingKey {
        case id, slug, `private`, url
        case lastBuild = "last_build"
    }
}

struct RepoList: ResponseEncodable, Sendable { var repos: [RepoJSON] }
struct BuildList: ResponseEncodable, Sendable { var builds: [BuildJSON] }
struct BuildDetail: ResponseEncodable, Sendable { var build: BuildJSON; var jobs: [JobJSON] }
struct JobDetail: ResponseEncodable, Sendable { var job: JobJSON; var build: BuildJSON? }

struct RequestJSON: ResponseEncodable, Sendable {
    var id: Int64
    var state: String
    var repo: String
    var eventType: String
    var branch: String?
    var sha: String?
    var message: String?
    var warnings: JSONValue
    var buildID: Int64?
    var createdAt: String?

    enum CodingKeys: String, CodingKey {
        case id, state, repo, branch, sha, message, warnings
        case eventType = "event_type", buildID = "build_id", createdAt = "created_at"
    }
}

/// `202 Accepted` for a stored build request.
struct RequestAccepted: ResponseEncodable, Sendable {
    var request: Int64
    var repo: String
    var sha: String?
    var branch: String?
}

/// `202 Accepted` for a webhook that builds nothing, with the reason; `200` for a redelivery.
struct WebhookIgnored: ResponseEncodable, Sendable {
    var ignored: String
    var event: String
}

struct WebhookDuplicate: ResponseEncodable, Sendable {
    var duplicate: String
    var request: Int64?
}

struct JobActionResult: ResponseEncodable, Sendable { var ok: Bool; var changed: Bool }
struct BuildActionResult: ResponseEncodable, Sendable { var ok: Bool; var jobs: Int }
struct OwnerLimit: ResponseEncodable, Sendable { var owner: String; var limit: Int }

struct Health: ResponseEncodable, Sendable { var status: String; var node: String }
struct Readiness: ResponseEncodable, Sendable {
    var ready: Bool
    var checks: [String: String]
    /// Present only when the node has some (e.g. a sandbox feature it fell back from).
    var warnings: [String]?
}

extension OwnerQueueReport: ResponseEncodable {}

/// JSON stored as text in PostgreSQL (stages, warnings), read back as a value.
enum JSONText {
    static func value(_ text: String?) -> JSONValue? {
        guard let text else { return nil }
        return try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }
}

// Synthesized `Encodable` skips nil optionals; the API documents them as `null`, so within this
// module optionals of these types are written explicitly.
extension KeyedEncodingContainer {
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws { try encode(value, forKey: key) }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws { try encode(value, forKey: key) }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws { try encode(value, forKey: key) }
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws { try encode(value, forKey: key) }
    mutating func encodeIfPresent(_ value: BuildJSON?, forKey key: Key) throws { try encode(value, forKey: key) }
}
