import ConveyorModel
import ConveyorRedis
import Foundation

/// Milliseconds since 1970, the unit of every timestamp in stream messages.
public func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

/// A job ready to run, on `cv:queue:<name>`.
public struct QueueEntry: Sendable, Hashable {
    public var job: Int64
    public var attempt: Int
    public var owner: String

    public init(job: Int64, attempt: Int, owner: String) {
        self.job = job
        self.attempt = attempt
        self.owner = owner
    }

    public var fields: [(String, RedisArgument)] {
        [("job", RedisArgument(job)), ("attempt", RedisArgument(attempt)), ("owner", RedisArgument(owner))]
    }

    public init?(_ entry: StreamEntry) {
        guard let job = entry.string("job").flatMap({ Int64($0) }), let attempt = entry.string("attempt").flatMap({ Int($0) }) else { return nil }
        self.init(job: job, attempt: attempt, owner: entry.string("owner") ?? "")
    }
}

/// A job state update, on `cv:state` (from workers, the reaper and the API).
public struct StateUpdate: Sendable, Codable, Hashable {
    public var job: Int64
    public var event: JobEvent
    public var worker: String?

    public init(job: Int64, event: JobEvent, worker: String? = nil) {
        self.job = job
        self.event = event
        self.worker = worker
    }

    /// One stream field per event field (readable with `XRANGE`, and no JSON to encode or parse on the
    /// hub's hot path); absent values are left out.
    public var fields: [(String, RedisArgument)] {
        var fields: [(String, RedisArgument)] = [("job", RedisArgument(job)), ("kind", RedisArgument(event.kind.rawValue)),
                                                 ("attempt", RedisArgument(event.attempt)), ("seq", RedisArgument(event.seq)),
                                                 ("at", RedisArgument(event.at))]
        if let result = event.result { fields.append(("result", RedisArgument(result.rawValue))) }
        if let reason = event.reason { fields.append(("reason", RedisArgument(reason))) }
        if let receivedAt = event.receivedAt { fields.append(("received_at", RedisArgument(receivedAt))) }
        if let startedAt = event.startedAt { fields.append(("started_at", RedisArgument(startedAt))) }
        if let worker { fields.append(("worker", RedisArgument(worker))) }
        return fields
    }

    /// Reads the flat fields, or the `data` JSON of entries written before them.
    public init?(_ entry: StreamEntry) {
        if let data = entry.fields?["data"] {
            guard let update = try? JSONDecoder().decode(StateUpdate.self, from: Data(data)) else { return nil }
            self = update
            return
        }
        func int(_ name: String) -> Int64? { entry.string(name).flatMap { Int64($0) } }
        guard let job = int("job"), let kind = entry.string("kind").flatMap(JobEventKind.init(rawValue:)),
              let attempt = int("attempt"), let seq = int("seq"), let at = int("at") else { return nil }
        var result: JobState?
        if let text = entry.string("result") {
            guard let state = JobState(rawValue: text) else { return nil }
            result = state
        }
        self.init(job: job, event: JobEvent(kind: kind, attempt: Int(attempt), seq: Int(seq), at: at, result: result, reason: entry.string("reason"),
                                            receivedAt: int("received_at"), startedAt: int("started_at")),
                  worker: entry.string("worker"))
    }
}

/// One numbered piece of a job's log, on `cv:logs`.
public struct LogPart: Sendable, Hashable {
    public var job: Int64
    public var attempt: Int
    public var number: Int
    public var final: Bool
    public var content: [UInt8]

    public init(job: Int64, attempt: Int, number: Int, final: Bool, content: [UInt8]) {
        self.job = job
        self.attempt = attempt
        self.number = number
        self.final = final
        self.content = content
    }

    public var fields: [(String, RedisArgument)] {
        [("job", RedisArgument(job)), ("attempt", RedisArgument(attempt)), ("number", RedisArgument(number)),
         ("final", final ? "1" : "0"), ("content", RedisArgument(bytes: content))]
    }

    public init?(_ entry: StreamEntry) {
        guard let job = entry.string("job").flatMap({ Int64($0) }), let attempt = entry.string("attempt").flatMap({ Int($0) }),
              let number = entry.string("number").flatMap({ Int($0) }) else { return nil }
        self.init(job: job, attempt: attempt, number: number, final: entry.string("final") == "1", content: entry.fields?["content"] ?? [])
    }
}
