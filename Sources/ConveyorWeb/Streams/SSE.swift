import HTTPTypes
import Hummingbird

/// Server-Sent Events framing.
enum SSE {
    static func frame(event: String, id: String? = nil, data: String) -> ByteBuffer {
        var text = ""
        if let id { text += "id: \(id)\n" }
        text += "event: \(event)\n"
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) { text += "data: \(line)\n" }
        text += "\n"
        return ByteBuffer(string: text)
    }

    static func frame<T: Encodable>(event: String, id: String? = nil, json: T) -> ByteBuffer {
        frame(event: event, id: id, data: String(decoding: APIJSON.encode(json), as: UTF8.self))
    }

    /// The last event of a stream that fell behind: the client reconnects (EventSource does so by
    /// itself, sending `Last-Event-ID`).
    static let reconnect = frame(event: "reconnect", json: ReconnectNotice())

    static let keepAlive = ByteBuffer(string: ": keep-alive\n\n")

    static var headers: HTTPFields {
        [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"]
    }
}

struct ReconnectNotice: Codable, Sendable {
    var reason = "this stream fell too far behind and was closed; reconnect to resume"
}

/// Stream payloads.
struct LogPartJSON: Codable, Sendable { var number: Int; var content: String; var final: Bool }
struct JobStateJSON: Codable, Sendable { var job: Int64; var state: String; var attempt: Int }
struct LogEndJSON: Codable, Sendable { var job: Int64; var last: Int }
