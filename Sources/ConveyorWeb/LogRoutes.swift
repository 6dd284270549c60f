import ConveyorCore
import ConveyorLogs
import ConveyorModel
import Foundation
import HTTPTypes
import Hummingbird

/// A job's log: the whole text, or live as Server-Sent Events that first send what exists, then
/// live parts — no gap (a missing number is fetched from the store), no duplicate (numbers only
/// go up), resumable with `Last-Event-ID`.
struct LogRoutes: Sendable {
    let context: NodeContext
    let store: LogStore
    let fanout: EventFanout

    func register<C: RequestContext>(on router: Router<C>) {
        router.get("/api/v1/jobs/:id/log") { request, ctx -> Response in
            let job = try ctx.parameters.require("id", as: Int64.self)
            let attempt = request.uri.queryParameters.get("attempt").flatMap { Int($0) }
            guard let snapshot = try await store.read(job: job, attempt: attempt) else {
                if try await jobState(job) == nil { throw APIError(.notFound, "job \(job) not found") }
                return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody())
            }
            // `?offset=N` returns only the bytes after the first N (how `conveyor logs --follow` polls).
            let offset = min(max(request.uri.queryParameters.get("offset").flatMap { Int($0) } ?? 0, 0), snapshot.content.count)
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", HTTPField.Name("X-Log-Attempt")!: String(snapshot.attempt),
                                                   HTTPField.Name("X-Log-Complete")!: snapshot.final ? "true" : "false",
                                                   HTTPField.Name("X-Log-Length")!: String(snapshot.content.count)],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: snapshot.content[offset...])))
        }
        router.get("/api/v1/jobs/:id/log/stream") { request, ctx -> Response in
            let job = try ctx.parameters.require("id", as: Int64.self)
            guard let state = try await jobState(job) else { throw APIError(.notFound, "job \(job) not found") }
            let resume = request.headers[HTTPField.Name("Last-Event-ID")!].flatMap { Int($0) }
                ?? request.uri.queryParameters.get("after").flatMap { Int($0) } ?? -1
            return Response(status: .ok, headers: SSE.headers, body: ResponseBody { writer in
                try await stream(job: job, attempt: state.attempt, after: resume) { try await writer.write($0) }
                try await writer.finish(nil)
            })
        }
    }

    func jobState(_ job: Int64) async throws -> (state: String, attempt: Int)? {
        guard let row = try await context.postgres.query("SELECT state, attempt FROM jobs WHERE id = $1", [.int(job)]).first else { return nil }
        return (row["state"].string ?? "", row["attempt"].int ?? 1)
    }

    /// Sends a job's log parts after `after`, then follows live ones until the final part.
    /// Used by SSE and WebSocket alike through `send`.
    func stream(job: Int64, attempt: Int, after: Int, send: (ByteBuffer) async throws -> Void) async throws {
        let (subscription, events) = await fanout.subscribe()
        defer { Task { await fanout.unsubscribe(subscription) } }
        var last = after
        var finished = false
        func catchUp() async throws {
            for part in try await store.parts(job: job, attempt: attempt, after: last) where part.number > last {
                try await send(SSE.frame(event: "part", id: String(part.number), data: partJSON(part.number, part.content, part.final)))
                last = part.number
                if part.final { finished = true }
            }
        }
        try await catchUp()
        if let state = try await jobState(job) {
            try await send(SSE.frame(event: "state", data: JSONValue.object(["job": .int(Int(job)), "state": .string(state.state), "attempt": .int(state.attempt)]).jsonText()))
        }
        // After the final part, stay until the hub has recorded the job's final state, so the
        // client sees the state change before `end`.
        func finalState() async throws -> Bool {
            guard let state = try await jobState(job) else { return true }
            let isFinal = ["passed", "failed", "errored", "canceled"].contains(state.state)
            if isFinal {
                try await send(SSE.frame(event: "state", data: JSONValue.object(["job": .int(Int(job)), "state": .string(state.state), "attempt": .int(state.attempt)]).jsonText()))
            }
            return isFinal
        }
        if finished, try await finalState() {
            try await send(SSE.frame(event: "end", data: JSONValue.object(["job": .int(Int(job)), "last": .int(last)]).jsonText()))
            return
        }
        for await event in events {
            if event.type == "tick" {
                try await send(SSE.keepAlive)
                if !finished { try await catchUp() }
                if finished, try await finalState() { break }
                continue
            }
            let fields = event.fields
            guard (fields["job"] as? Int).map(Int64.init) == job else { continue }
            if event.type == "log:part" && !finished {
                guard (fields["attempt"] as? Int) == attempt, let number = fields["number"] as? Int, number > last else { continue }
                if number == last + 1 {
                    let content = Array(((fields["content"] as? String) ?? "").utf8)
                    let final = (fields["final"] as? Bool) ?? false
                    try await send(SSE.frame(event: "part", id: String(number), data: partJSON(number, content, final)))
                    last = number
                    if final { finished = true }
                } else {
                    try await catchUp() // a gap: the store has what the fan-out skipped
                }
                if finished, try await finalState() { break }
            } else if event.type.hasPrefix("job:") {
                try await send(SSE.frame(event: "state", data: String(decoding: event.data, as: UTF8.self)))
                if finished, try await finalState() { break }
            }
        }
        try await send(SSE.frame(event: "end", data: JSONValue.object(["job": .int(Int(job)), "last": .int(last)]).jsonText()))
    }

    func partJSON(_ number: Int, _ content: [UInt8], _ final: Bool) -> String {
        JSONValue.object(["number": .int(number), "content": .string(String(decoding: content, as: UTF8.self)), "final": .bool(final)]).jsonText()
    }
}

/// `GET /api/v1/events/stream`: every fan-out event (builds and jobs; log parts only with `?logs=1`).
struct EventStreamRoutes: Sendable {
    let fanout: EventFanout

    func register<C: RequestContext>(on router: Router<C>) {
        router.get("/api/v1/events/stream") { request, _ -> Response in
            let withLogs = request.uri.queryParameters.get("logs") == "1"
            return Response(status: .ok, headers: SSE.headers, body: ResponseBody { writer in
                let (subscription, events) = await fanout.subscribe()
                defer { Task { await fanout.unsubscribe(subscription) } }
                try await writer.write(SSE.keepAlive)
                for await event in events {
                    if event.type == "tick" { try await writer.write(SSE.keepAlive); continue }
                    if event.type == "log:part" && !withLogs { continue }
                    try await writer.write(SSE.frame(event: event.type, id: event.id, data: String(decoding: event.data, as: UTF8.self)))
                }
                try await writer.finish(nil)
            })
        }
    }
}
