import ConveyorCore
import Foundation

/// The `log:part` event on `cv:events`: `{"job", "attempt", "number", "final", "content"}` with the
/// content as UTF-8 text (invalid bytes replaced).
public enum LogPartEvent {
    public static let type = "log:part"

    static func data(_ part: LogPart) -> [String: JSONScalar] {
        ["job": .int(part.job), "attempt": .int(Int64(part.attempt)), "number": .int(Int64(part.number)),
         "final": .bool(part.final), "content": .string(String(decoding: part.content, as: UTF8.self))]
    }

    /// Reads the `data` field of a `log:part` event back into a part.
    public static func decode(_ data: [UInt8]) -> LogPart? {
        struct Wire: Decodable {
            var job: Int64
            var attempt: Int
            var number: Int
            var final: Bool
            var content: String
        }
        guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(data)) else { return nil }
        return LogPart(job: wire.job, attempt: wire.attempt, number: wire.number, final: wire.final, content: Array(wire.content.utf8))
    }
}
