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
///
/// Nothing is dropped while the worker lives: what Redis has not taken waits in a `LogBacklog`
/// (bounded memory, then the worker's disk) and is retried with backoff until Redis is back; a batch
/// that failed is resent as is (same part numbers), so the logs role sees each part once or again,
/// never a gap. See docs/runbook.md ("Redis outages").
final class LogStream: @unchecked Sendable {
    // @unchecked Sendable: `pending`, `lastOutput`, `closing`, `abandoned`, `limitHit`, `pump`, `sleeper`, `handOver`, `handedOver` and `history` are
    // only touched with `lock` held; `masker`, `limiter`, `number`, `backlog`, `inFlight` and `retry` only by the pump task.
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

    private var masker: SecretMasker
    private var limiter: LogLimiter
    private var number = 0
    private var backlog: LogBacklog
    /// Parts made from the backlog's oldest bytes and not yet acknowledged by Redis.
    private var inFlight: Batch?
    private var retry = RetryClock()
    /// Every part's `XADD` Redis took, kept to send again when Redis lost them (`resend`): the logs
    /// role stores parts by (job, attempt, number), so a part sent twice is stored once. Bounded by
    /// the log limit; touched with `lock` held (the pump adds, `resend` reads from the monitor).
    private var history: [RedisCommand] = []

    let job: Int64
    let attempt: Int
    let redis: RedisClient
    let stream: String
    let flushInterval: Duration
    let flushBytes: Int
    let logger: Logger
    let maxBytes: Int
    private let parts = Counter(label: "conveyor_worker_log_parts_sent_total")
    private let bytes = Counter(label: "conveyor_worker_log_bytes_sent_total")

    init(job: Int64, attempt: Int, context: NodeContext, secrets: [String], maxBytes: Int,
         memoryLimit: Int = LogStream.defaultMemoryLimit) {
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
        backlog = LogBacklog(memoryLimit: memoryLimit,
                             spillPath: context.settings.workDirectory + "/log-spill/\(job)-\(attempt)-\(UUID().uuidString.prefix(8)).log")
    }

    /// Bytes of unsent log kept in memory before the rest goes to disk.
    static let defaultMemoryLimit = 1_048_576
    /// Most bytes one pipeline sends (as parts of `flushBytes`).
    private var batchBytes: Int { flushBytes * 64 }

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
            if stop { return await backlog.discard() }
            if !chunk.isEmpty {
                await backlog.append(process(chunk))
                lastFlush = .now
            }
            if let trailer {
                await backlog.append(limiter.accept(masker.flush()) + limiter.finish() + trailer)
                if lock.withLock({ handOver }) {
                    let commands = await handOverAll()
                    lock.withLock { handedOver = commands }
                } else {
                    await sendAll()
                }
                return await backlog.discard()
            }
            if retry.due, inFlight != nil || !backlog.isEmpty { _ = await sendBatch(final: false) }
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
    private func parts(of content: [UInt8], final: Bool) -> [LogPart] {
        var pieces: [LogPart] = []
        var offset = 0
        repeat {
            let end = min(content.count, offset + flushBytes)
            pieces.append(LogPart(job: job, attempt: attempt, number: number, final: final && end == content.count,
                                  content: Array(content[offset..<end])))
            number += 1
            offset = end
        } while offset < content.count
        return pieces
    }

    /// Parts ready to go, and how many backlog bytes they carry.
    private struct Batch {
        var commands: [RedisCommand]
        var parts: Int
        var bytes: Int
        var final: Bool
    }

    /// The next batch from the oldest backlog bytes (the final part when they are the last and `final`).
    private func nextBatch(final: Bool) async -> Batch {
        if let inFlight { return inFlight }
        let content = await backlog.peek(max: batchBytes)
        let last = final && content.count == backlog.count
        let pieces = parts(of: content, final: last)
        let batch = Batch(commands: pieces.map { RedisClient.xaddCommand(stream, fields: $0.fields) },
                          parts: pieces.count, bytes: content.count, final: last)
        inFlight = batch
        return batch
    }

    /// Sends one batch; on failure keeps it for the next try (same part numbers) and backs off.
    private func sendBatch(final: Bool) async -> Bool {
        let batch = await nextBatch(final: final)
        do {
            try await redis.pipeline(batch.commands).throwingFirstError()
        } catch {
            let wait = retry.failed()
            if retry.failures == 1 || retry.failures % 20 == 0 {
                logger.warning("could not send log parts; keeping them and retrying", metadata: [
                    "job": "\(job)", "tries": "\(retry.failures)", "unsent_bytes": "\(backlog.count)",
                    "spilled_bytes": "\(backlog.spilled)", "next_try_ms": "\(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)",
                    "error": "\(error)"])
            }
            return false
        }
        if retry.failures > 0 {
            logger.info("log parts flowing again", metadata: ["job": "\(job)", "after_tries": "\(retry.failures)"])
        }
        retry.succeeded()
        lock.withLock { history += batch.commands }
        inFlight = nil
        await backlog.drop(batch.bytes)
        parts.increment(by: Int64(batch.parts))
        bytes.increment(by: Int64(batch.bytes))
        return true
    }

    /// Sends everything, the last part final, retrying until Redis takes it or the attempt is abandoned.
    private func sendAll() async {
        while !lock.withLock({ abandoned }) {
            let final = await nextBatch(final: true).final
            if await sendBatch(final: true) {
                if final { return }
            } else {
                try? await Task.sleep(for: retry.wait)
            }
        }
    }

    /// Everything not sent, as `XADD`s (the last part final), for the caller's final pipeline.
    private func handOverAll() async -> [RedisCommand] {
        var commands = inFlight?.commands ?? []
        var carried = (inFlight?.parts ?? 0, inFlight?.bytes ?? 0)
        if let inFlight { await backlog.drop(inFlight.bytes) }
        inFlight = nil
        // The rest ends with the final part (an empty one when nothing is left).
        let rest = await backlog.takeAll()
        let pieces = parts(of: rest, final: true)
        commands += pieces.map { RedisClient.xaddCommand(stream, fields: $0.fields) }
        carried.0 += pieces.count
        carried.1 += rest.count
        parts.increment(by: Int64(carried.0))
        bytes.increment(by: Int64(carried.1))
        lock.withLock { history += commands }
        return commands
    }

    /// Sends every part Redis took so far again: Redis lost its data, or a failover promoted a
    /// replica that may lack the last ones (docs/runbook.md#redis-lost-or-behind). Parts not yet
    /// taken are still in the backlog and go out as usual.
    func resend() async {
        let commands = lock.withLock { history }
        if commands.isEmpty { return }
        do {
            try await redis.pipeline(commands).throwingFirstError()
            logger.info("sent the log again after a Redis loss", metadata: ["job": "\(job)", "parts": "\(commands.count)"])
        } catch {
            logger.warning("could not send the log again after a Redis loss", metadata: ["job": "\(job)", "error": "\(error)"])
        }
    }
}

/// Backoff between tries to send a log: 100 ms doubling to 2 s, forever.
private struct RetryClock {
    private(set) var failures = 0
    private var notBefore = ContinuousClock.now

    var wait: Duration { failures == 0 ? .zero : .milliseconds(min(2_000, 100 << min(failures - 1, 5))) }
    var due: Bool { ContinuousClock.now >= notBefore }

    mutating func failed() -> Duration {
        failures += 1
        notBefore = .now + wait
        return wait
    }

    mutating func succeeded() {
        failures = 0
        notBefore = .now
    }
}
