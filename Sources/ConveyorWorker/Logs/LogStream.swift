import Dispatch
import ConveyorCore
import ConveyorModel
import ConveyorRedis
import Foundation
import Logging
import Metrics

/// One attempt's log on its way to `cv:logs`: output is buffered as it arrives (from any thread), then
/// masked, limited and sent as numbered parts (from 0) every `flushInterval` or `flushBytes`, whichever
/// comes first. `finish` sends the rest and the final part; `abandon` stops without one.
final class LogStream: @unchecked Sendable {
    // @unchecked Sendable: `pending`, `lastOutput`, `closing`, `abandoned`, `limitHit`, `pump`, `sleeper`, `handOver` and `handedOver` are
    // only touched with `lock` held; `masker`, `limiter` and `number` only by the pump task.
    private let lock = NSLock()
    private var pending: [UInt8] = []
    private var lastOutput = ContinuousClock.now
    private var closing: [UInt8]?
    private var abandoned = false
    private var limitHit = false
    private var appended = 0
    private var pump: Task<Void, Never>?
    private var sleeper: CheckedContinuation<Void, Never>?
    private var handOver = false
    private var handedOver: [RedisCommand] = []

    /// Every part's `XADD` so far, kept to send again when Redis lost them (`resend`): the logs
    /// role stores parts by (job, attempt, number), so a part sent twice is stored once.
    /// Bounded by the log limit. Touched only by the pump task and `resend`, with `lock` held.
    private var history: [RedisCommand] = []
    private var lostParts = false

    private var masker: SecretMasker
    private var limiter: LogLimiter
    private var number = 0

    let job: Int64
    let attempt: Int
    let redis: RedisClient
    let stream: String
    let flushInterval: Duration
    let flushBytes: Int
    let logger: Logger
    let maxBytes: Int
    private let parts = Counter(label: "conveyor_log_parts_total")
    private let bytes = Counter(label: "conveyor_log_bytes_total")

    init(job: Int64, attempt: Int, context: NodeContext, secrets: [String], maxBytes: Int) {
        self.job = job
        self.attempt = attempt
        redis = context.redis
        stream = context.keys.logs
        flushInterval = .milliseconds(max(10, context.settings.logFlushMilliseconds))
        flushBytes = max(256, context.settings.logFlushBytes)
        logger = context.logger
        masker = SecretMasker(secrets: secrets)
        limiter = LogLimiter(maxBytes: maxBytes)
        self.maxBytes = maxBytes
    }

    /// Starts sending. The pump is an unstructured task so that a cancelled job still delivers its log.
    func start() {
        lock.withLock { pump = Task { await self.run() } }
    }

    @Sendable func append(_ chunk: [UInt8]) {
        lock.withLock {
            pending += chunk
            appended += chunk.count
            lastOutput = .now
        }
    }

    /// Restarts the no-output clock (when the script begins, after any VM boot).
    func touch() {
        lock.withLock { lastOutput = .now }
    }

    func append(_ text: String) { append(Array(text.utf8)) }

    /// Time since the script last wrote anything.
    var silence: Duration { lock.withLock { ContinuousClock.now - lastOutput } }

    /// The log went past its maximum length (counted as output arrives, so a script that ends right
    /// after flooding its log is caught too).
    var limitExceeded: Bool { lock.withLock { limitHit || appended > maxBytes } }

    /// Everything not yet sent, then `trailer`, as the `XADD`s of the last parts (the last marked
    /// final), for the caller to send in the same pipeline as the job's final state.
    func finishHandingOver(trailer: String) async -> [RedisCommand] {
        let task = lock.withLock { () -> Task<Void, Never>? in
            closing = Array(trailer.utf8)
            handOver = true
            return pump
        }
        wakePump()
        await task?.value
        return lock.withLock { handedOver }
    }

    /// Sends everything, then `trailer`, the last part marked final. Waits until it was sent.
    func finish(trailer: String) async {
        let task = lock.withLock { () -> Task<Void, Never>? in
            closing = Array(trailer.utf8)
            return pump
        }
        wakePump()
        await task?.value
    }

    /// The attempt is no longer ours: stop sending, without a final part.
    func abandon() async {
        let task = lock.withLock { () -> Task<Void, Never>? in
            abandoned = true
            return pump
        }
        wakePump()
        await task?.value
    }

    /// Sends every part so far again: Redis lost its data, or a failover promoted a replica that may
    /// lack the last ones (docs/runbook.md#redis-lost-or-behind). Idempotent for the logs role.
    func resend() async {
        let commands = lock.withLock { history }
        if commands.isEmpty { return }
        do {
            try await redis.pipeline(commands).throwingFirstError()
            logger.info("sent the log again after a Redis loss", metadata: ["job": "\(job)", "parts": "\(commands.count)"])
        } catch {
            lock.withLock { lostParts = true }
            logger.warning("could not send the log again; it goes with the next parts", metadata: ["job": "\(job)", "error": "\(error)"])
        }
    }

    // MARK: - Pump

    private func run() async {
        var lastFlush = ContinuousClock.now
        while true {
            let (chunk, trailer, stop) = lock.withLock { () -> ([UInt8], [UInt8]?, Bool) in
                if abandoned { return ([], nil, true) }
                let due = closing != nil || pending.count >= flushBytes
                    || (!pending.isEmpty && ContinuousClock.now - lastFlush >= flushInterval)
                guard due else { return ([], nil, false) }
                defer { pending = [] }
                return (pending, closing, false)
            }
            if stop { return }
            if let trailer {
                var out = process(chunk)
                out += limiter.accept(masker.flush())
                out += limiter.finish()
                out += trailer
                if lock.withLock({ handOver }) {
                    let (pieces, commands) = parts(of: out, final: true)
                    self.parts.increment(by: Int64(pieces.count))
                    bytes.increment(by: Int64(out.count))
                    lock.withLock {
                        handedOver = lostParts ? history + commands : commands
                        history += commands
                    }
                } else {
                    await send(out, final: true)
                }
                return
            }
            if !chunk.isEmpty {
                await send(process(chunk), final: false)
                lastFlush = .now
            }
            await nap(.milliseconds(20))
        }
    }

    /// Sleeps until the next tick, or until `finish`/`abandon` wakes the pump (so a job's last part
    /// goes out at once, not up to a tick later).
    private func nap(_ tick: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = lock.withLock { () -> Bool in
                if closing != nil || abandoned { return true }
                sleeper = continuation
                return false
            }
            if now { return continuation.resume() }
            let nanoseconds = Int(tick.components.attoseconds / 1_000_000_000) + Int(tick.components.seconds) * 1_000_000_000
            // A stale timer may end a later nap early: harmless, that is one early tick.
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [weak self] in self?.wakePump() }
        }
    }

    private func wakePump() {
        let continuation = lock.withLock { () -> CheckedContinuation<Void, Never>? in
            defer { sleeper = nil }
            return sleeper
        }
        continuation?.resume()
    }

    private func process(_ chunk: [UInt8]) -> [UInt8] {
        guard !chunk.isEmpty else { return [] }
        let out = limiter.accept(masker.mask(chunk))
        if limiter.exceeded { lock.withLock { limitHit = true } }
        return out
    }

    /// Numbers `content` as parts of at most `flushBytes` (the last one final when `final`).
    private func parts(of content: [UInt8], final: Bool) -> ([LogPart], [RedisCommand]) {
        var pieces: [LogPart] = []
        var offset = 0
        repeat {
            let end = min(content.count, offset + flushBytes)
            pieces.append(LogPart(job: job, attempt: attempt, number: number, final: final && end == content.count,
                                  content: Array(content[offset..<end])))
            number += 1
            offset = end
        } while offset < content.count
        return (pieces, pieces.map { RedisClient.xaddCommand(stream, fields: $0.fields) })
    }

    /// Splits into parts of at most `flushBytes` and sends them in one pipeline, retrying a few times.
    private func send(_ content: [UInt8], final: Bool) async {
        if content.isEmpty && !final { return }
        let (pieces, fresh) = parts(of: content, final: final)
        // After parts were given up on (Redis unreachable for a while), the next send carries them all again.
        let commands = lock.withLock { () -> [RedisCommand] in
            defer { history += fresh }
            return lostParts ? history + fresh : fresh
        }
        for attempt in 1...5 {
            do {
                try await redis.pipeline(commands).throwingFirstError()
                lock.withLock { lostParts = false }
                parts.increment(by: Int64(pieces.count))
                bytes.increment(by: Int64(content.count))
                return
            } catch {
                logger.warning("could not send log parts; retrying", metadata: ["job": "\(job)", "try": "\(attempt)", "error": "\(error)"])
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
        lock.withLock { lostParts = true }
        logger.error("log parts not sent; they go again with the next ones", metadata: ["job": "\(job)", "first": "\(pieces[0].number)", "count": "\(pieces.count)"])
    }
}
