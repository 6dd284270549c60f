import Dispatch
import ConveyorCore
import ConveyorModel
import ConveyorRedis
import ConveyorThreads
import Foundation
import Logging
import Metrics
import Synchronization

/// One attempt's log on its way to `cv:logs`: output is buffered as it arrives (from any thread), then
/// masked, limited and sent as numbered parts (from 0) every `flushInterval` or `flushBytes`, whichever
/// comes first. `finish` sends the rest and the final part; `abandon` stops without one.
///
/// Nothing is dropped while the worker lives: what Redis has not taken waits in a `LogBacklog`
/// (bounded memory, then the worker's disk) and is retried with backoff until Redis is back; a batch
/// that failed is resent as is (same part numbers), so the logs role sees each part once or again,
/// never a gap. See docs/runbook.md ("Redis outages").
final class LogStream: Sendable {
    private enum Phase: Equatable {
        case open
        /// `finish` (or `finishHandingOver`, with `handOver`): the rest, then `trailer`, as the last parts.
        case closing(trailer: [UInt8], handOver: Bool)
        /// `abandon`: stop sending, without a final part.
        case abandoned
    }

    /// What the writers (any thread), the monitor and the pump share. Everything else belongs to the
    /// pump task alone (`Pump`).
    private struct Shared {
        var phase = Phase.open
        var pending: [UInt8] = []
        var appended = 0
        var lastOutput = ContinuousClock.now
        var limitHit = false
        var pump: Task<Void, Never>?
        /// The pump, asleep between ticks.
        var sleeper: CheckedContinuation<Void, Never>?
        /// What `finishHandingOver` returns, once the pump has made it.
        var handedOver: [RedisCommand] = []
        /// Every part's `XADD` Redis took, kept to send again when Redis lost them (`resend`): the
        /// logs role stores parts by (job, attempt, number), so a part sent twice is stored once.
        /// Bounded by the log limit.
        var history: [RedisCommand] = []
    }

    private let shared = Mutex(Shared())
    private let secrets: [String]
    private let memoryLimit: Int
    private let spillPath: String

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
        self.secrets = secrets
        self.maxBytes = maxBytes
        self.memoryLimit = memoryLimit
        spillPath = context.settings.workDirectory + "/log-spill/\(job)-\(attempt)-\(UUID().uuidString.prefix(8)).log"
    }

    /// Bytes of unsent log kept in memory before the rest goes to disk.
    static let defaultMemoryLimit = 1_048_576

    /// Starts sending. The pump is an unstructured task so that a cancelled job still delivers its log.
    func start() {
        let pump = Pump(log: self, masker: SecretMasker(secrets: secrets), limiter: LogLimiter(maxBytes: maxBytes),
                        backlog: LogBacklog(memoryLimit: memoryLimit, spillPath: spillPath))
        shared.withLock { $0.pump = Task { var pump = pump; await pump.run() } }
    }

    @Sendable func append(_ chunk: [UInt8]) {
        shared.withLock { shared in
            shared.pending += chunk
            shared.appended += chunk.count
            shared.lastOutput = .now
        }
    }

    /// Restarts the no-output clock (when the script begins, after any VM boot).
    func touch() {
        shared.withLock { $0.lastOutput = .now }
    }

    func append(_ text: String) { append(Array(text.utf8)) }

    /// Time since the script last wrote anything.
    var silence: Duration { shared.withLock { ContinuousClock.now - $0.lastOutput } }

    /// The log went past its maximum length (counted as output arrives, so a script that ends right
    /// after flooding its log is caught too).
    var limitExceeded: Bool { shared.withLock { $0.limitHit || $0.appended > maxBytes } }

    /// Everything not yet sent, then `trailer`, as the `XADD`s of the last parts (the last marked
    /// final), for the caller to send in the same pipeline as the job's final state.
    func finishHandingOver(trailer: String) async -> [RedisCommand] {
        await close(.closing(trailer: Array(trailer.utf8), handOver: true))
        return shared.withLock { $0.handedOver }
    }

    /// Sends everything, then `trailer`, the last part marked final. Waits until it was sent.
    func finish(trailer: String) async {
        await close(.closing(trailer: Array(trailer.utf8), handOver: false))
    }

    /// The attempt is no longer ours: stop sending, without a final part.
    func abandon() async {
        await close(.abandoned)
    }

    /// Moves to `phase` (an abandoned log stays abandoned), wakes the pump and waits for it to end.
    private func close(_ phase: Phase) async {
        let task = shared.withLock { shared -> Task<Void, Never>? in
            if shared.phase != .abandoned { shared.phase = phase }
            return shared.pump
        }
        wakePump()
        await task?.value
    }

    private func wakePump() {
        let continuation = shared.withLock { shared -> CheckedContinuation<Void, Never>? in
            defer { shared.sleeper = nil }
            return shared.sleeper
        }
        continuation?.resume()
    }

    /// Sends every part Redis took so far again: Redis lost its data, or a failover promoted a
    /// replica that may lack the last ones (docs/runbook.md#redis-lost-or-behind). Parts not yet
    /// taken are still in the backlog and go out as usual.
    func resend() async {
        let commands = shared.withLock { $0.history }
        if commands.isEmpty { return }
        do {
            try await redis.pipeline(commands).throwingFirstError()
            logger.info("sent the log again after a Redis loss", metadata: ["job": "\(job)", "parts": "\(commands.count)"])
        } catch {
            logger.warning("could not send the log again after a Redis loss", metadata: ["job": "\(job)", "error": "\(error)"])
        }
    }

    // MARK: - Pump

    /// The pump task's own state: masking, limiting, numbering, the backlog and the batch in flight.
    private struct Pump {
        let log: LogStream
        var masker: SecretMasker
        var limiter: LogLimiter
        var number = 0
        var backlog: LogBacklog
        /// Parts made from the backlog's oldest bytes and not yet acknowledged by Redis.
        var inFlight: Batch?
        var retry = RetryClock()

        init(log: LogStream, masker: SecretMasker, limiter: LogLimiter, backlog: LogBacklog) {
            self.log = log
            self.masker = masker
            self.limiter = limiter
            self.backlog = backlog
        }

        /// Most bytes one pipeline sends (as parts of `flushBytes`).
        private var batchBytes: Int { log.flushBytes * 64 }

        mutating func run() async {
            var lastFlush = ContinuousClock.now
            while true {
                let (chunk, closing) = log.shared.withLock { shared -> ([UInt8], Phase?) in
                    if shared.phase == .abandoned { return ([], .abandoned) }
                    let due = shared.phase != .open || shared.pending.count >= log.flushBytes
                        || (!shared.pending.isEmpty && ContinuousClock.now - lastFlush >= log.flushInterval)
                    guard due else { return ([], nil) }
                    defer { shared.pending = [] }
                    return (shared.pending, shared.phase == .open ? nil : shared.phase)
                }
                if closing == .abandoned { return await backlog.discard() }
                if !chunk.isEmpty {
                    await backlog.append(process(chunk))
                    lastFlush = .now
                }
                if case .closing(let trailer, let handOver) = closing {
                    await backlog.append(limiter.accept(masker.flush()) + limiter.finish() + trailer)
                    if handOver {
                        let commands = await handOverAll()
                        log.shared.withLock { $0.handedOver = commands }
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
            let log = self.log
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = log.shared.withLock { shared -> Bool in
                    if shared.phase != .open { return true }
                    shared.sleeper = continuation
                    return false
                }
                if now { return continuation.resume() }
                let nanoseconds = Int(tick.components.attoseconds / 1_000_000_000) + Int(tick.components.seconds) * 1_000_000_000
                // A stale timer may end a later nap early: harmless, that is one early tick.
                DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [weak log] in log?.wakePump() }
            }
        }

        private mutating func process(_ chunk: [UInt8]) -> [UInt8] {
            guard !chunk.isEmpty else { return [] }
            let out = limiter.accept(masker.mask(chunk))
            if limiter.exceeded { log.shared.withLock { $0.limitHit = true } }
            return out
        }

        /// Numbers `content` as parts of at most `flushBytes` (the last one final when `final`).
        private mutating func parts(of content: [UInt8], final: Bool) -> [LogPart] {
            var pieces: [LogPart] = []
            var offset = 0
            repeat {
                let end = min(content.count, offset + log.flushBytes)
                pieces.append(LogPart(job: log.job, attempt: log.attempt, number: number, final: final && end == content.count,
                                      content: Array(content[offset..<end])))
                number += 1
                offset = end
            } while offset < content.count
            return pieces
        }

        /// The next batch from the oldest backlog bytes (the final part when they are the last and `final`).
        private mutating func nextBatch(final: Bool) async -> Batch {
            if let inFlight { return inFlight }
            let content = await backlog.peek(max: batchBytes)
            let last = final && content.count == backlog.count
            let pieces = parts(of: content, final: last)
            let batch = Batch(commands: pieces.map { RedisClient.xaddCommand(log.stream, fields: $0.fields) },
                              parts: pieces.count, bytes: content.count, final: last)
            inFlight = batch
            return batch
        }

        /// Sends one batch; on failure keeps it for the next try (same part numbers) and backs off.
        private mutating func sendBatch(final: Bool) async -> Bool {
            let batch = await nextBatch(final: final)
            do {
                try await log.redis.pipeline(batch.commands).throwingFirstError()
            } catch {
                let wait = retry.failed()
                if retry.failures == 1 || retry.failures % 20 == 0 {
                    log.logger.warning("could not send log parts; keeping them and retrying", metadata: [
                        "job": "\(log.job)", "tries": "\(retry.failures)", "unsent_bytes": "\(backlog.count)",
                        "spilled_bytes": "\(backlog.spilled)", "next_try_ms": "\(wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000)",
                        "error": "\(error)"])
                }
                return false
            }
            if retry.failures > 0 {
                log.logger.info("log parts flowing again", metadata: ["job": "\(log.job)", "after_tries": "\(retry.failures)"])
            }
            retry.succeeded()
            log.shared.withLock { $0.history += batch.commands }
            inFlight = nil
            await backlog.drop(batch.bytes)
            log.parts.increment(by: Int64(batch.parts))
            log.bytes.increment(by: Int64(batch.bytes))
            return true
        }

        /// Sends everything, the last part final, retrying until Redis takes it or the attempt is abandoned.
        private mutating func sendAll() async {
            while log.shared.withLock({ $0.phase != .abandoned }) {
                let final = await nextBatch(final: true).final
                if await sendBatch(final: true) {
                    if final { return }
                } else {
                    try? await Task.sleep(for: retry.wait)
                }
            }
        }

        /// Everything not sent, as `XADD`s (the last part final), for the caller's final pipeline.
        private mutating func handOverAll() async -> [RedisCommand] {
            var commands = inFlight?.commands ?? []
            var carried = (inFlight?.parts ?? 0, inFlight?.bytes ?? 0)
            if let inFlight { await backlog.drop(inFlight.bytes) }
            inFlight = nil
            // The rest ends with the final part (an empty one when nothing is left).
            let rest = await backlog.takeAll()
            let pieces = parts(of: rest, final: true)
            commands += pieces.map { RedisClient.xaddCommand(log.stream, fields: $0.fields) }
            carried.0 += pieces.count
            carried.1 += rest.count
            log.parts.increment(by: Int64(carried.0))
            log.bytes.increment(by: Int64(carried.1))
            log.shared.withLock { $0.history += commands }
            return commands
        }
    }

    /// Parts ready to go, and how many backlog bytes they carry.
    private struct Batch {
        var commands: [RedisCommand]
        var parts: Int
        var bytes: Int
        var final: Bool
    }
}

/// When the pump may try to send again: the one backoff policy (`Backoff`), 100 ms doubling to 2 s,
/// forever; checked on the pump's ticks rather than slept, so output keeps being taken meanwhile.
private struct RetryClock {
    private(set) var failures = 0
    private var backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(2))
    private var notBefore = ContinuousClock.now
    /// The wait after the last failure (zero after a success).
    private(set) var wait = Duration.zero

    var due: Bool { ContinuousClock.now >= notBefore }

    mutating func failed() -> Duration {
        failures += 1
        wait = backoff.next()
        notBefore = .now + wait
        return wait
    }

    mutating func succeeded() {
        failures = 0
        backoff.reset()
        wait = .zero
        notBefore = .now
    }
}
