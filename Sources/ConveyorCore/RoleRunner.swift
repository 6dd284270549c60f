import ConveyorThreads
import Logging
import ServiceLifecycle

/// Runs one loop of a role: a pass, then a wait, until the node shuts down. A failed pass is logged
/// and followed by a wait of the one backoff policy (`Backoff`, at least `every`); a pass that
/// succeeds resets it and is followed by `every`. Every wait ends at once on graceful shutdown or
/// cancellation, so a role stops within one pass of the signal; a pass that hangs is bounded by
/// the node's `ShutdownDeadline`.
public struct RoleRunner: Sendable {
    /// What failed, in the log line: "<name> failed; retrying".
    public let name: String
    public let logger: Logger
    /// The wait between passes (a periodic sweep); `.zero` starts the next pass at once.
    public let every: Duration
    /// The wait after a failed pass, growing while failures repeat.
    public let backoff: Backoff
    /// Wait `every` before the first pass too.
    public let waitFirst: Bool
    /// The level of the failure's log line.
    public let failureLevel: Logger.Level
    /// Called with each failure (a metric), before the log line.
    public let onFailure: (@Sendable (any Error) -> Void)?

    public init(_ name: String, logger: Logger, every: Duration = .zero, backoff: Backoff = Backoff(),
                waitFirst: Bool = false, failureLevel: Logger.Level = .warning, onFailure: (@Sendable (any Error) -> Void)? = nil) {
        self.name = name
        self.logger = logger
        self.every = every
        self.backoff = backoff
        self.waitFirst = waitFirst
        self.failureLevel = failureLevel
        self.onFailure = onFailure
    }

    /// Whether the loop should stop: the node shuts down, or the task was cancelled.
    public static var stopping: Bool { Task.isCancelled || Task.isShuttingDownGracefully }

    /// Runs `pass` until the node stops. A `CancellationError` ends the loop without a log line.
    public func run(_ pass: () async throws -> Void) async {
        var backoff = self.backoff
        if waitFirst, !(await Self.pause(every)) { return }
        while !Self.stopping {
            let wait: Duration
            do {
                try await pass()
                backoff.reset()
                wait = every
            } catch is CancellationError {
                return
            } catch {
                onFailure?(error)
                logger.log(level: failureLevel, "\(name) failed; retrying", metadata: ["error": "\(error)"])
                wait = max(every, backoff.next())
            }
            if !(await Self.pause(wait)) { return }
        }
    }

    /// Sleeps `duration` unless the node stops first; false if it does.
    @discardableResult
    public static func pause(_ duration: Duration) async -> Bool {
        if stopping { return false }
        if duration <= .zero { return true }
        do {
            try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
        } catch {
            return false
        }
        return !stopping
    }
}
