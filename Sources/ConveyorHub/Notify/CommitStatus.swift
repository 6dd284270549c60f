import Foundation

/// A GitHub-compatible commit status (`POST <base>/repos/<owner>/<repo>/statuses/<sha>`).
struct CommitStatus: Encodable, Sendable {
    var state: String
    var context = "conveyor"
    var description: String
    var target_url: String?

    /// pending while created or started; success, failure or error once finished.
    init(buildState: String, number: Int, buildID: Int64, publicURL: String?) {
        switch buildState {
        case "passed": state = "success"; description = "The Conveyor build passed"
        case "failed": state = "failure"; description = "The Conveyor build failed"
        case "errored": state = "error"; description = "The Conveyor build errored"
        case "canceled": state = "error"; description = "The Conveyor build was canceled"
        case "started": state = "pending"; description = "The Conveyor build is in progress"
        default: state = "pending"; description = "The Conveyor build is pending"
        }
        description += " (#\(number))"
        target_url = publicURL.map { "\($0.hasSuffix("/") ? String($0.dropLast()) : $0)/builds/\(buildID)" }
    }

    static func url(base: String, slug: String, sha: String) -> String {
        "\(base.hasSuffix("/") ? String(base.dropLast()) : base)/repos/\(slug)/statuses/\(sha)"
    }

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
