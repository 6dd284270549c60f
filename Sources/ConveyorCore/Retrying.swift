import ConveyorThreads
import Logging

/// Runs one operation again after it fails, waiting the one backoff policy (`Backoff`) between
/// tries: for a send that must get through (a state update, the end of a log) or a read worth a
/// second try. A role's loop uses `RoleRunner` instead.
///
/// It stops on cancellation, not on graceful shutdown: a draining worker still reports its jobs.
public struct Retrying: Sendable {
    public enum Limit: Sendable, Equatable {
        /// At most this many tries in all; then the last error is thrown.
        case tries(Int)
        /// At least this many tries, then on until the task is cancelled.
        case untilCancelled(atLeast: Int)
    }

    /// What failed, in the log line: "<what> failed; retrying".
    public let what: String
    public let logger: Logger
    public let metadata: Logger.Metadata
    public let limit: Limit
    public let backoff: Backoff
    /// Which errors are worth another try; the others are thrown at once.
    public let retryable: @Sendable (any Error) -> Bool

    public init(_ what: String, logger: Logger, metadata: Logger.Metadata = [:], limit: Limit,
                backoff: Backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(2)),
                retryable: @escaping @Sendable (any Error) -> Bool = { _ in true }) {
        self.what = what
        self.logger = logger
        self.metadata = metadata
        self.limit = limit
        self.backoff = backoff
        self.retryable = retryable
    }

    /// Runs `body` until it succeeds or the limit says stop. A failure is logged at its first few
    /// tries and every 20th after, so a long outage does not flood the log.
    nonisolated(nonsending) public func run<T>(_ body: () async throws -> T) async throws -> T {
        var backoff = self.backoff
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await body()
            } catch {
                guard retryable(error), !isLast(attempt) else { throw error }
                if attempt <= 5 || attempt % 20 == 0 {
                    logger.warning("\(what) failed; retrying", metadata: metadata.merging(["try": "\(attempt)", "error": "\(error)"]) { $1 })
                }
                // A cancelled task does not sleep: its remaining tries follow at once.
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    private func isLast(_ attempt: Int) -> Bool {
        switch limit {
        case .tries(let tries): attempt >= tries
        case .untilCancelled(let atLeast): attempt >= atLeast && Task.isCancelled
        }
    }
}
