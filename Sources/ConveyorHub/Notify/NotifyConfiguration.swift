/// How notifications are retried.
public struct NotifyConfiguration: Sendable {
    /// Attempts of one delivery before it is given up (`failed`).
    public var maxAttempts = 6
    /// Wait before the first retry; each later retry waits twice as long.
    public var retryBaseSeconds = 5.0
    /// How often due retries are looked for.
    public var sweepInterval = Duration.seconds(2)
    /// Bound of one HTTP request.
    public var requestTimeout = Duration.seconds(10)
    /// A delivery being sent is hidden from other senders for this long.
    public var claimSeconds = 60.0

    public init(maxAttempts: Int = 6, retryBaseSeconds: Double = 5, sweepInterval: Duration = .seconds(2),
                requestTimeout: Duration = .seconds(10), claimSeconds: Double = 60) {
        self.maxAttempts = maxAttempts
        self.retryBaseSeconds = retryBaseSeconds
        self.sweepInterval = sweepInterval
        self.requestTimeout = requestTimeout
        self.claimSeconds = claimSeconds
    }

    /// Exponential backoff after the `attempts`-th failed attempt (1-based).
    func backoffSeconds(afterAttempt attempts: Int) -> Double {
        retryBaseSeconds * Double(1 << min(max(attempts - 1, 0), 16))
    }
}
