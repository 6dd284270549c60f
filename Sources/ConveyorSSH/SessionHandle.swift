import CLibSSH2
import ConveyorThreads

/// `libssh2_init` runs once per process, before the first session (a global `let` is initialised once).
let libssh2InitResult: Int32 = libssh2_init(0)

/// The libssh2 session, its socket and the commands running on it.
///
/// `@unchecked Sendable`: every member is read and written only on `thread`, the owning
/// `SSHSession`'s DedicatedThread. Other threads merely hold the reference to submit closures that
/// use it there, so libssh2 never sees two threads (its sessions are not thread-safe).
final class SessionHandle: @unchecked Sendable {
    let thread: DedicatedThread
    let socket: Int32
    let session: OpaquePointer
    let operationTimeout: Duration
    var runs: [RunState] = []
    var pumpScheduled = false
    var closed = false

    init(thread: DedicatedThread, socket: Int32, session: OpaquePointer, operationTimeout: Duration) {
        self.thread = thread
        self.socket = socket
        self.session = session
        self.operationTimeout = operationTimeout
    }

    /// libssh2's message for the call that just failed. Call it right away, on the session thread.
    func lastError(_ what: String) -> SSHError {
        var text: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        let code = libssh2_session_last_error(session, &text, &length, 0)
        let message = text.map { String(cString: $0) } ?? "unknown error"
        return SSHError("\(what): \(message) (libssh2 error \(code))")
    }

    /// Repeats a non-blocking libssh2 call while it answers EAGAIN, waiting on the socket in between,
    /// until `deadline`. Negative results other than EAGAIN throw libssh2's message.
    @discardableResult
    func retry(_ what: String, until deadline: ContinuousClock.Instant, _ call: () -> Int32) throws -> Int32 {
        while true {
            let rc = call()
            if rc == LIBSSH2_ERROR_EAGAIN {
                try waitSocket(what, until: deadline)
                continue
            }
            if rc < 0 { throw lastError(what) }
            return rc
        }
    }

    /// `retry` for calls that return a pointer, NULL with EAGAIN meaning "not yet".
    func retryPointer<T>(_ what: String, until deadline: ContinuousClock.Instant, _ call: () -> T?) throws -> T {
        while true {
            if let value = call() { return value }
            guard libssh2_session_last_errno(session) == LIBSSH2_ERROR_EAGAIN else { throw lastError(what) }
            try waitSocket(what, until: deadline)
        }
    }

    /// Waits (at most 1 s at a time) for the socket direction libssh2 is blocked on.
    func waitSocket(_ what: String, until deadline: ContinuousClock.Instant) throws {
        let remaining = deadline - .now
        guard remaining > .zero else { throw SSHError("\(what): timed out") }
        waitSocket(maxMilliseconds: min(remaining.clampedMilliseconds, 1000))
    }

    func waitSocket(maxMilliseconds: Int32) {
        let directions = libssh2_session_block_directions(session)
        let write = directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0
        Socket.wait(socket, forRead: !write || directions & LIBSSH2_SESSION_BLOCK_INBOUND != 0,
                    forWrite: write, timeoutMs: maxMilliseconds)
    }

    func deadline() -> ContinuousClock.Instant { .now + operationTimeout }
}

extension Duration {
    /// Whole milliseconds, clamped to 0...Int32.max for poll(2) (where negative means "forever").
    var clampedMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        return overflow ? Int32.max : max(0, Int32(clamping: scaled + attoseconds / 1_000_000_000_000_000))
    }
}
