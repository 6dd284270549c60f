import ConveyorThreads
import Foundation
import Logging
import Synchronization

/// One Redis connection confined to its own thread.
///
/// Requests that arrive while the thread is busy are sent together as one pipeline (automatic
/// pipelining), so many concurrent callers share one round trip. A connection that fails is closed
/// and reconnected on the next request, with exponential backoff between attempts (`Backoff`).
public final class RedisConnection: Sendable {
    private struct Request {
        var commands: EncodedCommands
        var timeout: Duration?
        var continuation: CheckedContinuation<[RedisValue], any Error>
    }

    /// What callers and the connection's thread share.
    private struct Queue: ~Copyable {
        var pending: [Request] = []
        var phase = Phase.idle
    }

    private enum Phase {
        /// No drain is scheduled: the next request schedules one on the thread.
        case idle
        /// The thread drains `pending` and will see what is added meanwhile.
        case draining
        /// Closed: requests fail.
        case closed
    }

    /// The hiredis context and the reconnect throttle; only used on `thread` (the lock is never
    /// contended, it makes the confinement checkable).
    private struct Link: ~Copyable {
        let handle = RedisContextHandle()
        /// The endpoint generation the open socket belongs to (see `RedisEndpoint`).
        var connectedGeneration = 0
        var backoff = Backoff(initial: .milliseconds(50), maximum: .seconds(2))
        var nextAttempt: ContinuousClock.Instant = .now
    }

    public var url: RedisURL { endpoint.url }
    let endpoint: RedisEndpoint
    public let connectTimeout: Duration
    public let commandTimeout: Duration
    private let thread: DedicatedThread
    private let queue = Mutex(Queue())
    private let link = Mutex(Link())
    private let logger: Logger

    public convenience init(url: RedisURL, name: String, connectTimeout: Duration = .seconds(2),
                            commandTimeout: Duration = .seconds(5), logger: Logger = Logger(label: "conveyor.redis")) {
        self.init(endpoint: RedisEndpoint(url: url, logger: logger), name: name, connectTimeout: connectTimeout,
                  commandTimeout: commandTimeout, logger: logger)
    }

    init(endpoint: RedisEndpoint, name: String, connectTimeout: Duration, commandTimeout: Duration, logger: Logger) {
        self.endpoint = endpoint
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.thread = DedicatedThread(name: name)
        self.logger = logger
    }

    /// Sends commands as one pipeline; returns one reply per command (server errors as `.error`).
    public func pipeline(_ commands: [[[UInt8]]], timeout: Duration? = nil) async throws -> [RedisValue] {
        if commands.isEmpty { return [] }
        return try await pipeline(encoded: EncodedCommands(raw: commands), timeout: timeout)
    }

    /// Commands already encoded by the caller (see `EncodedCommands`).
    func pipeline(encoded commands: EncodedCommands, timeout: Duration? = nil) async throws -> [RedisValue] {
        if commands.count == 0 { return [] }
        return try await withCheckedThrowingContinuation { continuation in
            let request = Request(commands: commands, timeout: timeout, continuation: continuation)
            let start = queue.withLock { queue -> Bool? in
                switch queue.phase {
                case .closed: return nil
                case .draining:
                    queue.pending.append(request)
                    return false
                case .idle:
                    queue.pending.append(request)
                    queue.phase = .draining
                    return true
                }
            }
            switch start {
            case nil: continuation.resume(throwing: RedisError(code: .closed, message: "connection closed"))
            case true?: thread.submit { self.drain() }
            case false?: break
            }
        }
    }

    /// Number of requests waiting for this connection's thread.
    public var backlog: Int {
        queue.withLock { $0.pending.count }
    }

    /// Fails what is queued, closes the socket and ends the thread.
    public func close() async {
        let failed = queue.withLock { queue -> [Request] in
            queue.phase = .closed
            defer { queue.pending = [] }
            return queue.pending
        }
        for request in failed { request.continuation.resume(throwing: RedisError(code: .closed, message: "connection closed")) }
        _ = await thread.run { self.link.withLock { $0.handle.close() } }
        thread.shutdown()
    }

    // MARK: - On the connection's thread

    private func drain() {
        while true {
            let batch = queue.withLock { queue -> [Request] in
                defer { queue.pending.removeAll(keepingCapacity: true) }
                if queue.pending.isEmpty, case .draining = queue.phase { queue.phase = .idle }
                return queue.pending
            }
            if batch.isEmpty { return }
            link.withLock { execute(batch, &$0) }
        }
    }

    private func execute(_ batch: [Request], _ link: inout Link) {
        do {
            try ensureConnected(&link)
        } catch {
            for request in batch { request.continuation.resume(throwing: error) }
            return
        }
        // Requests with their own timeout (blocking reads) go alone; the rest share one pipeline.
        var shared: [Request] = []
        for request in batch {
            if request.timeout != nil { run([request], &link) } else { shared.append(request) }
        }
        if !shared.isEmpty { run(shared, &link) }
    }

    private func run(_ requests: [Request], _ link: inout Link) {
        let handle = link.handle
        let custom = requests.count == 1 ? requests[0].timeout : nil
        if let custom { handle.setTimeout(custom) }
        defer { if custom != nil { handle.setTimeout(commandTimeout) } }
        do {
            let replies = try handle.execute(requests.map(\.commands))
            // A demoted master answers writes with READONLY: find the new one for the next request.
            if replies.contains(where: { if case .error(let m) = $0 { m.hasPrefix("READONLY") } else { false } }) {
                handle.close()
                endpoint.invalidate(seen: link.connectedGeneration, reason: "READONLY reply")
            }
            if requests.count == 1 {
                requests[0].continuation.resume(returning: replies)
                return
            }
            var offset = 0
            for request in requests {
                let n = request.commands.count
                request.continuation.resume(returning: Array(replies[offset..<offset + n]))
                offset += n
            }
        } catch {
            logger.debug("redis pipeline failed", metadata: ["error": "\(error)", "url": "\(url)"])
            for request in requests { request.continuation.resume(throwing: error) }
        }
    }

    private func ensureConnected(_ link: inout Link) throws(RedisError) {
        let generation = endpoint.generation
        if link.handle.isConnected && link.connectedGeneration == generation { return }
        link.handle.close()
        let now = ContinuousClock.now
        // A master switch announced since the last failure is worth trying at once.
        if now < link.nextAttempt && generation == link.connectedGeneration {
            throw RedisError(code: .connectionLost, message: "\(url) unreachable; next reconnect attempt in \(link.nextAttempt - now)")
        }
        do {
            let target = try endpoint.resolve(connectTimeout: connectTimeout)
            try link.handle.connect(url: target.url, connectTimeout: connectTimeout, commandTimeout: commandTimeout,
                                    checkMaster: url.sentinel != nil)
            link.connectedGeneration = target.generation
            link.backoff.reset()
        } catch {
            link.connectedGeneration = generation
            link.nextAttempt = ContinuousClock.now + link.backoff.next()
            throw error
        }
    }
}
