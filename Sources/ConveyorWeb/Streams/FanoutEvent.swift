import ConveyorCore
import ConveyorLogs
import Foundation

/// One event read from `cv:events`, parsed once by the fan-out's reader so no subscriber parses
/// it again: the ids it is about, its repository and whether that repository is private, and
/// for `log:part` the part itself.
struct FanoutEvent: Sendable {
    var id: String
    var type: String
    var data: [UInt8]
    var job: Int64?
    var build: Int64?
    var repo: String?
    /// Fail closed: an event whose repository is unknown counts as private.
    var isPrivate = true
    var part: LogPart?

    static let tick = FanoutEvent(id: "", type: "tick", data: [])

    init(id: String, type: String, data: [UInt8]) {
        self.id = id
        self.type = type
        self.data = data
        if type == LogPartEvent.type {
            part = LogPartEvent.decode(data)
            job = part?.job
        } else if !data.isEmpty, let header = try? JSONDecoder().decode(Header.self, from: Data(data)) {
            job = header.job
            build = header.build
            repo = header.repo
        }
    }

    struct Header: Decodable {
        var job: Int64?
        var build: Int64?
        var repo: String?
    }
}

/// What a stream subscriber receives.
enum StreamFilter: Sendable, Equatable {
    /// Build and job events (and log parts with `logs`); private repositories' only for trusted callers.
    case all(logs: Bool, seesPrivate: Bool)
    /// One job's log parts and state events (its visibility was checked when subscribing).
    case job(Int64)

    func accepts(_ event: FanoutEvent) -> Bool {
        if event.type == "tick" { return true }
        switch self {
        case .job(let id):
            return event.job == id && (event.type == LogPartEvent.type || event.type.hasPrefix("job:"))
        case .all(let logs, let seesPrivate):
            if event.type == LogPartEvent.type && !logs { return false }
            return seesPrivate || !event.isPrivate
        }
    }

    var needsVisibility: Bool {
        if case .all(_, false) = self { return true }
        return false
    }
}
