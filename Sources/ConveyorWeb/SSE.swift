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

    static let keepAlive = ByteBuffer(string: ": keep-alive\n\n")

    static var headers: HTTPFields {
        [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"]
    }
}
