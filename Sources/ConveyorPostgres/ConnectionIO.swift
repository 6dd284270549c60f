import CLibPQ
import ConveyorThreads

/// One pooled connection's libpq handle and what reading it in pipeline mode needs: how its socket
/// is watched on its event loop, and where reading its results has got to. It lives in the
/// connection's `Mutex` (`PooledConnection.io`); whoever the pool's state machine gives the
/// connection to (the loop, a sender, its own thread) uses it with that lock held.
///
/// Each statement's results end with a NULL from `PQgetResult`, then comes its Sync
/// (`PGRES_PIPELINE_SYNC`, no NULL after it). A statement is delivered at its Sync: only then is its
/// implicit transaction committed or rolled back.
struct ConnectionIO: ~Copyable {
    let handle = PGConnHandle()
    /// The watcher token of this connection on its loop.
    var token: UInt64 = 0
    /// Statements sent in pipeline mode whose Sync has not been read.
    private(set) var unread = 0
    /// The oldest unread statement's outcome, once its first result is read.
    private var outcome: Result<PostgresResult, PostgresError>?
    /// The oldest unread statement's results ended (NULL read): its Sync comes next.
    private var awaitingSync = false
    /// libpq holds output the socket could not take yet.
    private var wantsWrite = false
    /// The socket as watched on the loop, while it is.
    private var watched: (socket: Int32, generation: UInt64, writable: Bool)?

    /// What one read step found.
    enum Step {
        /// A statement's outcome (its Sync read); its query text is filled in by the caller.
        case delivered(Result<PostgresResult, PostgresError>)
        /// Nothing more to read now.
        case wait
        /// The connection failed or the results are out of step.
        case failed
    }

    // MARK: - Sending

    /// Enters pipeline mode unless in it, then queues `statements` and writes what the socket takes.
    /// Returns how many reached libpq, and false when the connection failed.
    mutating func send(_ statements: [PipelinedStatement]) -> (queued: Int, healthy: Bool) {
        if !handle.inPipeline {
            guard handle.isConnected, handle.beginAsync() else { return (0, false) }
        }
        let queued = handle.send(statements)
        unread += queued
        return (queued, queued == statements.count && flush())
    }

    /// Writes what libpq still holds, when the socket became writable.
    mutating func flush() -> Bool {
        switch handle.flushOutput() {
        case .done: wantsWrite = false; return true
        case .pending: wantsWrite = true; return true
        case .failed: return false
        }
    }

    /// Back out of pipeline mode once every result is read (a lent connection given back, or the
    /// pool's statements done).
    func endPipeline() {
        if handle.inPipeline { handle.endAsync() }
    }

    // MARK: - Reading

    /// Reads what arrived (once per call) and returns the next statement's outcome if its Sync came.
    mutating func readNext(consume: Bool) -> Step {
        if consume && !handle.consumeInput() { return .failed }
        while unread > 0 && !handle.isBusy {
            let result = handle.nextResult()
            if awaitingSync {
                guard let result else { return .failed }
                let status = PQresultStatus(result)
                PQclear(result)
                // Anything but the Sync here means the results are out of step with the statements.
                guard status == PGRES_PIPELINE_SYNC else { return .failed }
                let delivered = outcome ?? .failure(PostgresError(code: .connectionLost, message: "no result"))
                unread -= 1
                outcome = nil
                awaitingSync = false
                return .delivered(delivered)
            }
            guard let result else {
                awaitingSync = true
                continue
            }
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            if status == PGRES_PIPELINE_SYNC { return .failed }
            guard outcome == nil else { continue }
            if status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY {
                outcome = .success(PGConnHandle.decode(result))
            } else {
                outcome = .failure(handle.failure(result, ""))
                if !handle.isConnected { return .failed }
            }
        }
        return .wait
    }

    /// The oldest unread statement's server error, if one was read before the connection broke: it
    /// is final (that statement rolled back).
    var serverErrorRead: PostgresError? {
        if case .failure(let error)? = outcome, error.code == .server { return error }
        return nil
    }

    // MARK: - The socket on the loop

    /// After statements were sent: the socket is watched (edge-triggered, added once per
    /// connection and after each reconnect), for writing too while libpq holds output. No system
    /// call when it is watched already, which is the usual case. False when it cannot be watched.
    mutating func watchSocket(on loop: EventLoop) -> Bool {
        let socket = handle.socket
        let generation = handle.generation
        if let watched, watched.socket == socket, watched.generation == generation {
            if watched.writable == wantsWrite { return true }
            self.watched = (socket, generation, wantsWrite)
            return loop.watch(socket, token: token, writable: wantsWrite, add: false)
        }
        watched = (socket, generation, wantsWrite)
        return loop.watch(socket, token: token, writable: wantsWrite, add: true)
    }

    /// After a read that left statements unread: libpq reads at most its buffer's room, so data may
    /// wait in the socket with no new edge to report it; modifying the watch reports it again.
    mutating func rewatchSocket(on loop: EventLoop) -> Bool {
        guard let watched else { return watchSocket(on: loop) }
        self.watched = (watched.socket, watched.generation, wantsWrite)
        return loop.watch(watched.socket, token: token, writable: wantsWrite, add: false)
    }

    /// Before the connection leaves the loop (lent, work on its own thread): its socket stops
    /// reporting there, so a transaction's round trips never wake the loop. A socket closed or
    /// replaced since is not touched: closing removed it, and its number may be another's now.
    mutating func unwatchSocket(on loop: EventLoop) {
        guard let watched else { return }
        self.watched = nil
        if handle.isOpen && watched.socket == handle.socket && watched.generation == handle.generation {
            loop.unwatch(watched.socket)
        }
    }

    /// The connection is given up, never reused broken or out of step: out of the loop's set,
    /// closed, its reading position reset. It reconnects on its next use.
    mutating func giveUp(on loop: EventLoop) {
        unwatchSocket(on: loop)
        handle.close()
        unread = 0
        outcome = nil
        awaitingSync = false
        wantsWrite = false
    }
}
