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

    public var fields: [(String, RedisArgument)] {
        let data = (try? JSONEncoder().encode(self)) ?? Data()
        return [("job", RedisArgument(job)), ("data", RedisArgument(bytes: Array(data)))]
    }

    public init?(_ entry: StreamEntry) {
        guard let data = entry.fields?["data"], let update = try? JSONDecoder().decode(StateUpdate.self, from: Data(data)) else { return nil }
        self = update
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
