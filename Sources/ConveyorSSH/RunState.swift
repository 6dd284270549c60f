import CLibSSH2

/// One remote command on one channel, advanced step by step by the session's pump.
///
/// `@unchecked Sendable`: created, advanced and finished only on the session's DedicatedThread;
/// `SSHRun` holds it only to submit closures that read it there.
final class RunState: @unchecked Sendable {
    enum Phase {
        case streaming, closing, waitingClosed, finished(Result<Int32, SSHError>)
    }

    var channel: OpaquePointer?
    let onOutput: @Sendable (SSHOutputStream, [UInt8]) -> Void
    var phase: Phase = .streaming
    var waiters: [CheckedContinuation<Int32, any Error>] = []
    /// Bytes still to write to the command's stdin; EOF is sent after them.
    var stdin: [UInt8]
    var stdinOffset = 0
    var eofSent = false
    /// After this instant the channel is closed and the run fails with a timeout.
    let deadline: ContinuousClock.Instant?
    /// The error to report once the channel is closed (timeout or read failure).
    var failure: SSHError?
    /// Remote file holding the process group id, for `terminate`.
    let pidFile: String

    init(channel: OpaquePointer, stdin: [UInt8], deadline: ContinuousClock.Instant?, pidFile: String,
         onOutput: @escaping @Sendable (SSHOutputStream, [UInt8]) -> Void) {
        self.channel = channel
        self.stdin = stdin
        self.deadline = deadline
        self.pidFile = pidFile
        self.onOutput = onOutput
    }

    var isFinished: Bool {
        if case .finished = phase { return true }
        return false
    }

    /// Records the result and resumes everyone waiting.
    func finish(_ result: Result<Int32, SSHError>) {
        guard !isFinished else { return }
        phase = .finished(result)
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting { waiter.resume(with: result.mapError { $0 as any Error }) }
    }

    /// Finishes without touching the channel (the session is going away and frees it).
    func abandon(_ error: SSHError) {
        channel = nil
        finish(.failure(error))
    }
}
