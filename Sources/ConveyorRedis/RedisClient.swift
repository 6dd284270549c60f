import ConveyorThreads
import Dispatch
import Foundation
import Logging
import Metrics
import Synchronization

/// Redis client: a small pool of thread-confined connections for ordinary commands, and dedicated
/// connections for blocking reads (`XREADGROUP … BLOCK`).
public final class RedisClient: Sendable {
    public struct Configuration: Sendable {
        public var url: RedisURL
        public var poolSize: Int
        public var connectTimeout: Duration
        public var commandTimeout: Duration
        public init(url: RedisURL, poolSize: Int = 4, connectTimeout: Duration = .seconds(2), commandTimeout: Duration = .seconds(5)) {
            self.url = url
            self.poolSize = poolSize
            self.connectTimeout = connectTimeout
            self.commandTimeout = commandTimeout
        }
    }

    public let configuration: Configuration
    /// The server or Sentinel-named master every connection of this client uses.
    public let endpoint: RedisEndpoint
    private let watcher: SentinelWatcher?
    private let connections: [RedisConnection]
    /// The pool's round-robin cursor.
    private let next = Atomic<Int>(0)
    private let logger: Logger
    private let latency = Metrics.Timer(label: "conveyor_redis_call_duration_seconds")
    private let errors = Counter(label: "conveyor_redis_errors_total")

    public init(configuration: Configuration, logger: Logger = Logger(label: "conveyor.redis")) {
        self.configuration = configuration
        self.logger = logger
        let endpoint = RedisEndpoint(url: configuration.url, logger: logger)
        self.endpoint = endpoint
        watcher = configuration.url.sentinel == nil ? nil : SentinelWatcher(endpoint: endpoint, logger: logger)
        connections = (0..<max(1, configuration.poolSize)).map { i in
            RedisConnection(endpoint: endpoint, name: "redis-\(i)", connectTimeout: configuration.connectTimeout,
                            commandTimeout: configuration.commandTimeout, logger: logger)
        }
    }

    public convenience init(url: String, poolSize: Int = 4) throws(RedisError) {
        self.init(configuration: Configuration(url: try RedisURL(url), poolSize: poolSize))
    }

    /// Sends one command; a server error reply is thrown as `RedisError` with code `.server`.
    @discardableResult
    public func send(_ command: RedisCommand) async throws -> RedisValue {
        let reply = try await pipeline([command])[0]
        return try reply.throwingError()
    }

    @discardableResult
    public func send(_ args: RedisArgument...) async throws -> RedisValue {
        try await send(args)
    }

    /// Sends commands back to back on one connection and reads one reply per command.
    /// Server errors stay in the replies, in place.
    public func pipeline(_ commands: [RedisCommand]) async throws -> [RedisValue] {
        let connection = pick()
        let start = DispatchTime.now().uptimeNanoseconds
        do {
            let replies = try await connection.pipeline(encoded: EncodedCommands(commands))
            latency.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start))
            return replies
        } catch {
            errors.increment()
            throw error
        }
    }

    /// A connection of its own, for blocking reads; the caller closes it.
    public func dedicatedConnection(name: String) -> RedisConnection {
        RedisConnection(endpoint: endpoint, name: name, connectTimeout: configuration.connectTimeout,
                        commandTimeout: configuration.commandTimeout, logger: logger)
    }

    public func close() async {
        watcher?.stop()
        for connection in connections { await connection.close() }
    }

    /// The least busy connection, round-robin among equals.
    private func pick() -> RedisConnection {
        let start = next.wrappingAdd(1, ordering: .relaxed).newValue & Int.max
        var best = connections[start % connections.count]
        var bestBacklog = best.backlog
        if bestBacklog == 0 { return best }
        for offset in 1..<connections.count {
            let candidate = connections[(start + offset) % connections.count]
            let backlog = candidate.backlog
            if backlog < bestBacklog {
                best = candidate
                bestBacklog = backlog
                if backlog == 0 { break }
            }
        }
        return best
    }
}
