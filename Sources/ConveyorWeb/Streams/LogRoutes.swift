import ConveyorCore
import ConveyorLogs
import ConveyorModel
import Foundation
import HTTPTypes
import Hummingbird

/// A job's log: the whole text, or live as Server-Sent Events that first send what exists, then
/// live parts — no gap (a missing number is fetched from the store), no duplicate (numbers only
/// go up), resumable with `Last-Event-ID`. A private repository's logs need the token.
struct LogRoutes: Sendable {
    let context: NodeContext
    let store: LogStore
    let fanout: EventFanout
    let access: Access

    func register(on router: Router<WebContext>) {
        router.get("/api/v1/jobs/:id/log") { request, ctx -> Response in
            let job = try ctx.parameters.id("id")
            let caller = try access.caller(request)
            let attempt = try request.queryInt("attempt", in: 1...10_000)
            let offset = try request.queryInt("offset", in: 0...Int.max) ?? 0
            guard let state = try await jobState(job), caller.seesPrivate || !state.isPrivate else { throw APIError(.notFound, "job \(job) not found") }
            guard let snapshot = try await store.read(job: job, attempt: attempt) else {
                return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: ResponseBody())
            }
            // `?offset=N` returns only the bytes after the first N (how `conveyor logs --follow` polls).
            let from = min(offset, snapshot.content.count)
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", HTTPField.Name("X-Log-Attempt")!: String(snapshot.attempt),
                                                   HTTPField.Name("X-Log-Complete")!: snapshot.final ? "true" : "false",
                                                   HTTPField.Name("X-Log-Length")!: String(snapshot.content.count)],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: snapshot.content[from...])))
        }
        router.get("/api/v1/jobs/:id/log/stream") { request, ctx -> Response in
            let job = try ctx.parameters.id("id")
            let caller = try access.caller(request)
            guard let state = try await jobState(job), caller.seesPrivate || !state.isPrivate else { throw APIError(.notFound, "job \(job) not found") }
            let lastEventID = request.headers[HTTPField.Name("Last-Event-ID")!]
            let resume: Int
            if let lastEventID {
                guard let value = Int(lastEventID), value >= -1 else { throw APIError(.badRequest, "Last-Event-ID must be a part number") }
                resume = value
            } else {
                resume = try request.queryInt("after", in: -1...Int(Int32.max)) ?? -1
            }
            let subscription = try fanout.subscribe(.job(job))
            return Response(status: .ok, headers: SSE.headers, body: ResponseBody { writer in
                try await stream(job: job, attempt: state.attempt, after: resume, subscription: subscription) { try await writer.write($0) }
                try await writer.finish(nil)
            })
        }
    }

    struct JobState: Sendable {
        var state: String
        var attempt: Int
        var isPrivate: Bool
    }

    func jobState(_ job: Int64) async throws -> JobState? {
        guard let row = try await context.postgres.read("""
            SELECT j.state, j.attempt, r.private FROM jobs j JOIN builds b ON b.id = j.build_id JOIN repositories r ON r.id = b.repository_id
            WHERE j.id = $1
            """, [.int(job)]).first else { return nil }
        return JobState(state: try row.decode("state"), attempt: try row.decode("attempt"), isPrivate: try row.decode("private"))
    }

    static let finalStates: Set<String> = ["passed", "failed", "errored", "canceled"]

    /// Sends a job's log parts after `after`, then follows live ones until the final part. The
    /// subscription delivers only this job's events, already parsed by the fan-out.
    func stream(job: Int64, attempt: Int, after: Int, subscription: StreamSubscription, send: (ByteBuffer) async throws -> Void) async throws {
        var last = after
        var finished = false
        func catchUp() async throws {
            for part in try await store.parts(job: job, attempt: attempt, after: last) where part.number > last {
                try await send(SSE.frame(event: "part", id: String(part.number), json: LogPartJSON(number: part.number, content: String(decoding: part.content, as: UTF8.self), final: part.final)))
                last = part.number
                if part.final { finished = true }
            }
        }
        try await catchUp()
        if let state = try await jobState(job) {
            try await send(SSE.frame(event: "state", json: JobStateJSON(job: job, state: state.state, attempt: state.attempt)))
        }
        // After the final part, stay until the hub has recorded the job's final state, so the
        // client sees the state change before `end`.
        func finalState() async throws -> Bool {
            guard let state = try await jobState(job) else { return true }
            let isFinal = Self.finalStates.contains(state.state)
            if isFinal { try await send(SSE.frame(event: "state", json: JobStateJSON(job: job, state: state.state, attempt: state.attempt))) }
            return isFinal
        }
        if finished, try await finalState() {
            try await send(SSE.frame(event: "end", json: LogEndJSON(job: job, last: last)))
            return
        }
        for await event in subscription.events {
            if event.type == "tick" {
                try await send(SSE.keepAlive)
                if !finished { try await catchUp() }
                if finished, try await finalState() { break }
                continue
            }
            if let part = event.part {
                guard !finished, part.attempt == attempt, part.number > last else { continue }
                if part.number == last + 1 {
                    try await send(SSE.frame(event: "part", id: String(part.number), json: LogPartJSON(number: part.number, content: String(decoding: part.content, as: UTF8.self), final: part.final)))
                    last = part.number
                    if part.final { finished = true }
                } else {
                    try await catchUp() // a gap: the store has what the fan-out skipped
                }
                if finished, try await finalState() { break }
            } else if event.type.hasPrefix("job:") {
                try await send(SSE.frame(event: "state", data: String(decoding: event.data, as: UTF8.self)))
                if finished, try await finalState() { break }
            }
        }
        if subscription.overflowed {
            try await send(SSE.reconnect)
            return
        }
        try await send(SSE.frame(event: "end", json: LogEndJSON(job: job, last: last)))
    }
}

/// `GET /api/v1/events/stream`: every fan-out event (builds and jobs; log parts only with
/// `?logs=1`); private repositories' events only for callers with the token.
struct EventStreamRoutes: Sendable {
    let fanout: EventFanout
    let access: Access

    func register(on router: Router<WebContext>) {
        router.get("/api/v1/events/stream") { request, _ -> Response in
            let caller = try access.caller(request)
            let withLogs = request.uri.queryParameters.get("logs") == "1"
            let subscription = try fanout.subscribe(.all(logs: withLogs, seesPrivate: caller.seesPrivate))
            return Response(status: .ok, headers: SSE.headers, body: ResponseBody { writer in
                try await writer.write(SSE.keepAlive)
                for await event in subscription.events {
                    if event.type == "tick" { try await writer.write(SSE.keepAlive); continue }
                    try await writer.write(SSE.frame(event: event.type, id: event.id, data: String(decoding: event.data, as: UTF8.self)))
                }
                if subscription.overflowed { try await writer.write(SSE.reconnect) }
                try await writer.finish(nil)
            })
        }
    }
}
