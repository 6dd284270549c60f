import ConveyorModel
import Foundation
import Hummingbird
import HummingbirdWebSocket

/// `/ws`: the same live streams over WebSocket. The client sends one text message
/// (`WebSocketSubscribe`): `{"subscribe": "events"}` for every build and job event, or
/// `{"subscribe": "log", "job": 12, "after": -1}` for a job's log (frames are the SSE payloads as
/// JSON: `{"event": "part", "id": "3", "data": {…}}`). The token, when needed, comes with the
/// upgrade request (header or `?access_token=`); a stream that falls behind ends with
/// `{"event": "reconnect", …}`.
struct WebSocketRoutes: Sendable {
    let logs: LogRoutes
    let fanout: EventFanout
    let access: Access

    func register(on router: Router<WebContext>) {
        router.ws("/ws", shouldUpgrade: { request, _ -> RouterShouldUpgrade in
            _ = try access.caller(request)  // a wrong token is refused before the upgrade
            return .upgrade([:])
        }, onUpgrade: { inbound, outbound, context in
            let caller = (try? access.caller(context.request)) ?? .anonymous
            var iterator = inbound.messages(maxSize: 1 << 16).makeAsyncIterator()
            guard let first = try await iterator.next(), case .text(let text) = first,
                  let request = try? JSONBody.decode(WebSocketSubscribe.self, from: Array(text.utf8)) else {
                try await outbound.write(.text(Self.text(ErrorBody(error: #"send {"subscribe": "events"} or {"subscribe": "log", "job": ID}"#))))
                return
            }
            switch request.subscribe {
            case .log:
                guard let job = request.job, let state = try await logs.jobState(job), caller.seesPrivate || !state.isPrivate else {
                    try await outbound.write(.text(Self.text(ErrorBody(error: "job not found"))))
                    return
                }
                guard let subscription = try? fanout.subscribe(.job(job)) else {
                    try await outbound.write(.text(Self.text(ErrorBody(error: "this node serves its maximum of live streams; retry later"))))
                    return
                }
                try await logs.stream(job: job, attempt: state.attempt, after: request.after ?? -1, subscription: subscription) { buffer in
                    if let frame = Self.json(fromSSE: String(buffer: buffer)) { try await outbound.write(.text(frame)) }
                }
            case .events:
                guard let subscription = try? fanout.subscribe(.all(logs: false, seesPrivate: caller.seesPrivate)) else {
                    try await outbound.write(.text(Self.text(ErrorBody(error: "this node serves its maximum of live streams; retry later"))))
                    return
                }
                for await event in subscription.events where event.type != "tick" {
                    try await outbound.write(.text("{\"event\": \"\(event.type)\", \"id\": \"\(event.id)\", \"data\": \(String(decoding: event.data, as: UTF8.self))}"))
                }
                if subscription.overflowed {
                    try await outbound.write(.text(Self.json(fromSSE: String(buffer: SSE.reconnect)) ?? ""))
                }
            }
        })
    }

    static func text<T: Encodable>(_ value: T) -> String { String(decoding: APIJSON.encode(value), as: UTF8.self) }

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
