import ConveyorThreads
import Foundation
import Logging

/// One Redis connection confined to its own thread.
///
/// Requests that arrive while the thread is busy are sent together as one pipeline (automatic
/// pipelining), so many concurrent callers share one round trip. A connection that fails is closed
/// and reconnected on the next request, with exponential backoff between attempts.
public final class RedisConnection: @unchecked Sendable {
    // @unchecked Sendable: `handle` and the backoff fields are only touched on `thread`;
    // `pending` and `draining` only with `lock` held.
    private struct Request {
        var commands: EncodedCommands
        var timeout: Duration?
        var continuation: CheckedContinuation<[RedisValue], any Error>
    }

    public var url: RedisURL { endpoint.url }
    let endpoint: RedisEndpoint
    /// The endpoint generation the open socket belongs to (see `RedisEndpoint`).
    private var connectedGeneration = 0
    public let connectTimeout: Duration
    public let commandTimeout: Duration
    private let thread: DedicatedThread
    private let handle = RedisContextHandle()
    private let lock = NSLock()
    private var pending: [Request] = []
    private var draining = false
    private var closed = false
    private var backoff: Duration = .zero
    private var nextAttempt: ContinuousClock.Instant = .now
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
            lock.lock()
            if closed {
                lock.unlock()
                continuation.resume(throwing: RedisError(code: .closed, message: "connection closed"))
                return
            }
            pending.append(Request(commands: commands, timeout: timeout, continuation: continuation))
            let start = !draining
            draining = true
            lock.unlock()
            if start { thread.submit { self.drain() } }
        }
    }

    /// Number of requests waiting for this connection's thread.
    public var backlog: Int {
        lock.lock()
        defer { lock.unlock() }
        return pending.count
    }

    /// Fails what is queued, closes the socket and ends the thread.
    public func close() async {
        lock.withLock { closed = true }
        _ = await thread.run { self.handle.close() }
        thread.shutdown()
    }

    // MARK: - On the connection's thread

    private func drain() {
        while true {
            lock.lock()
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            if batch.isEmpty {
                draining = false
                lock.unlock()
                return
            }
            lock.unlock()
            execute(batch)
        }
    }

    private func execute(_ batch: [Request]) {
        do {
            try ensureConnected()
        } catch {
            for request in batch { request.continuation.resume(throwing: error) }
            return
        }
        // Requests with their own timeout (blocking reads) go alone; the rest share one pipeline.
        var shared: [Request] = []
        for request in batch {
            if request.timeout != nil { run([request]) } else { shared.append(request) }
        }
        if !shared.isEmpty { run(shared) }
    }

    private func run(_ requests: [Request]) {
        let custom = requests.count == 1 ? requests[0].timeout : nil
        if let custom { handle.setTimeout(custom) }
        defer { if custom != nil { handle.setTimeout(commandTimeout) } }
        do {
            let replies = try handle.execute(requests.map(\.commands))
            // A demoted master answers writes with READONLY: find the new one for the next request.
            if replies.contains(where: { if case .error(let m) = $0 { m.hasPrefix("READONLY") } else { false } }) {
                handle.close()
                endpoint.invalidate(seen: connectedGeneration, reason: "READONLY reply")
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

    private func ensureConnected() throws(RedisError) {
        let generation = endpoint.generation
        if handle.isConnected && connectedGeneration == generation { return }
        handle.close()
        let now = ContinuousClock.now
        // A master switch announced since the last failure is worth trying at once.
        if now < nextAttempt && generation == connectedGeneration {
            throw RedisError(code: .connectionLost, message: "\(url) unreachable; next reconnect attempt in \(nextAttempt - now)")
        }
        do {
            let target = try endpoint.resolve(connectTimeout: connectTimeout)
            try handle.connect(url: target.url, connectTimeout: connectTimeout, commandTimeout: commandTimeout,
                               checkMaster: url.sentinel != nil)
            connectedGeneration = target.generation
            backoff = .zero
        } catch {
            connectedGeneration = generation
            backoff = backoff == .zero ? .milliseconds(50) : min(backoff * 2, .seconds(2))
            nextAttempt = ContinuousClock.now + backoff
            throw error
        }
    }
}
