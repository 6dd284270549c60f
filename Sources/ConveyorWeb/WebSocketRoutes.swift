import ConveyorModel
import Foundation
import Hummingbird
import HummingbirdWebSocket

/// `/ws`: the same live streams over WebSocket. The client sends one text message:
/// `{"subscribe": "events"}` for every build and job event, or `{"subscribe": "log", "job": 12, "after": -1}`
/// for a job's log (frames are the SSE payloads as JSON: `{"event": "part", "id": "3", "data": {…}}`).
struct WebSocketRoutes: Sendable {
    let logs: LogRoutes
    let fanout: EventFanout

    func register(on router: Router<BasicWebSocketRequestContext>) {
        router.ws("/ws") { inbound, outbound, _ in
            var iterator = inbound.messages(maxSize: 1 << 16).makeAsyncIterator()
            guard let first = try await iterator.next(), case .text(let text) = first,
                  let request = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                try await outbound.write(.text(#"{"error": "send {\"subscribe\": \"events\"} or {\"subscribe\": \"log\", \"job\": ID}"}"#))
                return
            }
            if request["subscribe"] as? String == "log", let job = request["job"] as? Int {
                guard let state = try await logs.jobState(Int64(job)) else {
                    try await outbound.write(.text(#"{"error": "job not found"}"#))
                    return
                }
                try await logs.stream(job: Int64(job), attempt: state.attempt, after: request["after"] as? Int ?? -1) { buffer in
                    if let frame = Self.json(fromSSE: String(buffer: buffer)) { try await outbound.write(.text(frame)) }
                }
            } else {
                let (subscription, events) = await fanout.subscribe()
                defer { Task { await fanout.unsubscribe(subscription) } }
                for await event in events where event.type != "tick" && event.type != "log:part" {
                    try await outbound.write(.text("{\"event\": \"\(event.type)\", \"id\": \"\(event.id)\", \"data\": \(String(decoding: event.data, as: UTF8.self))}"))
                }
            }
        }
    }

    /// Re-frames one SSE frame as a JSON message; keep-alives are dropped.
    static func json(fromSSE frame: String) -> String? {
        var event = "message", id: String?, data: [String] = []
        for line in frame.split(separator: "\n") {
            if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
            else if line.hasPrefix("id: ") { id = String(line.dropFirst(4)) }
            else if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
        }
        if data.isEmpty { return nil }
        let idText = id.map { "\"\($0)\"" } ?? "null"
        return "{\"event\": \"\(event)\", \"id\": \(idText), \"data\": \(data.joined(separator: "\n"))}"
    }
}
