import ConveyorRedis
import Foundation

/// A build event read from `cv:events`: its type, build id, run and (if given) state.
struct BuildEventMessage: Sendable, Equatable {
    static let types: Set<String> = ["build:created", "build:started", "build:finished", "build:canceled"]

    var type: String
    var build: Int64
    var run: Int
    var state: String?

    var isFinish: Bool { type == "build:finished" || type == "build:canceled" }

    /// nil for events notifications don't care about.
    init?(_ entry: StreamEntry) {
        guard let type = entry.string("type"), Self.types.contains(type), let data = entry.fields?["data"],
              let object = try? JSONSerialization.jsonObject(with: Data(data)) as? [String: Any],
              let build = Self.integer(object["build"]) else { return nil }
        self.type = type
        self.build = build
        run = Self.integer(object["run"]).map(Int.init) ?? 1
        state = object["state"] as? String
    }

    private static func integer(_ value: Any?) -> Int64? {
        if let number = value as? NSNumber { return number.int64Value }
        if let text = value as? String { return Int64(text) }
        return nil
    }
}
