import CLibPQ
import ConveyorThreads
import Foundation

/// A connection in the statement loop: its statements in flight, in the order they were sent, and
/// where reading their results has got to. Every use holds `lock`: statements are sent by other
/// threads while the loop's thread reads.
///
/// Each statement's results end with a NULL from `PQgetResult`, then comes its Sync
/// (`PGRES_PIPELINE_SYNC`, no NULL after it). A statement is delivered at its Sync: only then is its
/// implicit transaction committed or rolled back.
///
/// It watches its socket on `loop`, for its `StatementLoop`.
final class ActiveConnection: EventLoopWatcher, @unchecked Sendable {
    // @unchecked Sendable: every mutable field is only touched with `lock` held, except `token` and
    // `statementLoop`, set once by `register(with:)` before the socket is first watched.
    let connection: PostgresConnection
    /// The event loop its socket is watched on, which reads its results.
    let loop: EventLoop
    private var token: UInt64 = 0
    private weak var statementLoop: StatementLoop?
    let lock = NSLock()
    /// The loop has ended: nothing is sent any more.
    var stopped = false
    /// Lent to a caller whose statements go through the loop (`StatementLoop.lend`): finishing its
    /// statements does not hand the connection back to the pool.
    var lent = false
    /// In pipeline mode for a lent connection's statements (entered at the first one).
    var lentInPipeline = false
    private var handle: PGConnHandle { connection.handle }
    /// Sent and not yet delivered, oldest first (`head` skips delivered ones without shifting).
    private var pending: [QueuedStatement?] = []
    private var head = 0
    /// The first statement's outcome, once its first result is read.
    private var outcome: Result<PostgresResult, PostgresError>?
    /// The first statement's results ended (NULL read): its Sync comes next.
    private var awaitingSync = false
    /// libpq holds output the socket could not take yet.
    private(set) var wantsWrite = false
    /// The socket as watched on `loop`, while it is.
    private var watched: (socket: Int32, generation: UInt64, writable: Bool)?

    init(connection: PostgresConnection, loop: EventLoop) {
        self.connection = connection
        self.loop = loop
    }

    /// Registers with the loop; events go to `statementLoop`.
    func register(with statementLoop: StatementLoop) {
        self.statementLoop = statementLoop
        token = loop.register(self)
    }

    /// No more events, once the statement loop stops.
    func unregister() {
        loop.unregister(token)
    }

    func ready(_ events: UInt32) {
        statementLoop?.service(self, events)
    }

    /// After statements were sent: the socket is watched (edge-triggered, added once per
    /// connection and after each reconnect or lending), for writing too while libpq holds output.
    /// No system call when it is watched already, which is the usual case. False when it cannot be
    /// watched (the connection is then given up).
    func watchSocket() -> Bool {
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

    /// After a read that left statements in flight: libpq reads at most its buffer's room, so data
    /// may wait in the socket with no new edge to report it; modifying the watch reports it again.
    func rewatchSocket() -> Bool {
        guard let watched else { return watchSocket() }
        self.watched = (watched.socket, watched.generation, wantsWrite)
        return loop.watch(watched.socket, token: token, writable: wantsWrite, add: false)
    }

    /// The connection is given up, never reused broken or out of step: out of the loop's set, closed.
    /// It reconnects on its next use.
    func giveUp() {
        unwatchSocket()
        handle.close()
    }

    /// Before the connection leaves the loop (lent, work on its own thread, closed): its socket
    /// stops reporting here, so a transaction's round trips never wake the loop. A socket closed or
    /// replaced since is not touched: closing removed it, and its number may be another's now.
    func unwatchSocket() {
        guard let watched else { return }
        self.watched = nil
        if handle.isOpen && watched.socket == handle.socket && watched.generation == handle.generation {
            loop.unwatch(watched.socket)
        }
    }

    var inFlight: Int { pending.count - head }

    /// Sends statements after those in flight. False when the connection failed.
    func send(_ items: [QueuedStatement]) -> Bool {
        let sent = handle.send(items.map(\.statement))
        pending.append(contentsOf: items)
        return sent == items.count && flush()
    }

    /// Writes what libpq still holds, when the socket became writable.
    func flush() -> Bool {
        switch handle.flushOutput() {
        case .done: wantsWrite = false; return true
        case .pending: wantsWrite = true; return true
        case .failed: return false
        }
    }

    /// Reads what arrived and delivers every statement whose Sync came. False when the connection
    /// failed; the statements still pending are then `takeUndelivered()`.
    func read(_ deliver: (QueuedStatement, Result<PostgresResult, PostgresError>) -> Void) -> Bool {
        guard handle.consumeInput() else { return false }
        while inFlight > 0 && !handle.isBusy {
            let sql = pending[head]!.statement.sql
            let result = handle.nextResult()
            if awaitingSync {
                guard let result else { return false }
                let status = PQresultStatus(result)
                PQclear(result)
                // Anything but the Sync here means the results are out of step with the statements.
                guard status == PGRES_PIPELINE_SYNC else { return false }
                let item = pending[head]!
                pending[head] = nil  // delivered: its continuation is not kept alive
                deliver(item, outcome ?? .failure(PostgresError(code: .connectionLost, message: "no result", query: sql)))
                head += 1
                outcome = nil
                awaitingSync = false
                if head == pending.count { pending.removeAll(keepingCapacity: true); head = 0 }
                continue
            }
            guard let result else {
                awaitingSync = true
                continue
            }
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            if status == PGRES_PIPELINE_SYNC { return false }
            guard outcome == nil else { continue }
            if status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY {
                outcome = .success(PGConnHandle.decode(result))
            } else {
                outcome = .failure(handle.failure(result, sql))
                if !handle.isConnected { return false }
            }
        }
        return true
    }

    /// After a failure: the statements not delivered, with the outcome each already has. A server
    /// error read before the connection broke is final (that statement rolled back); the others may
    /// or may not have committed and are run once more on the connection reconnected.
    func takeUndelivered() -> (failed: [(QueuedStatement, PostgresError)], retry: [QueuedStatement]) {
        var failed: [(QueuedStatement, PostgresError)] = []
        var retry = pending[head...].compactMap { $0 }
        if case .failure(let error)? = outcome, error.code == .server, !retry.isEmpty {
            failed.append((retry.removeFirst(), error))
        }
        pending.removeAll()
        head = 0
        outcome = nil
        awaitingSync = false
        return (failed, retry)
    }
}
