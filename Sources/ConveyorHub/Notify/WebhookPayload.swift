import ConveyorModel
import Foundation

/// The JSON body of a webhook, shaped like Travis CI's: `status`/`result` 0 for passed, 1 for
/// failed, errored or canceled, null while running.
struct WebhookPayload: Encodable, Sendable {
    struct Repository: Encodable, Sendable {
        var id: Int64
        var name: String
        var owner_name: String
        var url: String
    }

    struct MatrixJob: Encodable, Sendable {
        var id: Int64
        var number: String
        var state: String
        var status: Int?
        var result: Int?
        var allow_failure: Bool
        var stage: String?
        var queue: String
        var started_at: String?
        var finished_at: String?
    }

    var id: Int64
    var number: String
    var type: String
    var state: String
    var status: Int?
    var result: Int?
    var status_message: String
    var result_message: String
    var branch: String
    var tag: String?
    var commit: String
    var message: String
    var started_at: String?
    var finished_at: String?
    var duration: Int64?
    var build_url: String?
    var repository: Repository
    var matrix: [MatrixJob]

    init(_ build: BuildSnapshot, state: String, publicURL: String?) {
        id = build.id
        number = String(build.number)
        type = build.eventType
        self.state = state
        status = Self.status(state)
        result = status
        status_message = Self.message(state)
        result_message = status_message
        branch = build.branch
        tag = build.tag
        commit = build.sha
        message = build.message
        started_at = Self.iso(build.startedMillis)
        finished_at = Self.iso(build.finishedMillis)
        if let started = build.startedMillis, let finished = build.finishedMillis { duration = max(0, (finished - started) / 1000) }
        build_url = publicURL.map { "\($0.hasSuffix("/") ? String($0.dropLast()) : $0)/builds/\(build.id)" }
        repository = Repository(id: build.repositoryID, name: build.repositoryName, owner_name: build.ownerName, url: build.repositoryURL)
        matrix = build.jobs.map {
            MatrixJob(id: $0.id, number: $0.number, state: $0.state, status: Self.status($0.state), result: Self.status($0.state),
                      allow_failure: $0.allowFailure, stage: $0.stage, queue: $0.queue,
                      started_at: Self.iso($0.startedMillis), finished_at: Self.iso($0.finishedMillis))
        }
    }

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func status(_ state: String) -> Int? {
        switch state {
        case "passed": return 0
        case "failed", "errored", "canceled": return 1
        default: return nil
        }
    }

    static func message(_ state: String) -> String {
        switch state {
        case "passed": return "Passed"
        case "failed": return "Failed"
        case "errored": return "Errored"
        case "canceled": return "Canceled"
        default: return "Pending"
        }
    }

    static func iso(_ millis: Int64?) -> String? {
        millis.map { UTCTimestamp.string(millis: $0) }
    }
}
