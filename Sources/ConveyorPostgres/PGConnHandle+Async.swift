import CLibPQ
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// libpq's non-blocking pipeline calls, used by the pool's connections on their event loop (`ConnectionIO`).
///
/// While a loop reads a connection it is in pipeline mode and non-blocking: statements are sent
/// without waiting, output the kernel cannot take yet stays in libpq's buffer until the socket is
/// writable, and results are read only when `PQisBusy` says they arrived, so no call here blocks.
extension PGConnHandle {
    enum FlushState { case done, pending, failed }

    var socket: Int32 { conn.map { PQsocket($0) } ?? -1 }

    /// Not closed (its socket may still have failed).
    var isOpen: Bool { conn != nil }

    /// In libpq's pipeline mode (`beginAsync` until `endAsync`).
    var inPipeline: Bool { conn.map { PQpipelineStatus($0) != PQ_PIPELINE_OFF } ?? false }

    /// Enters pipeline mode and non-blocking mode. False if libpq refuses (not idle, or broken).
    func beginAsync() -> Bool {
        guard let conn, PQenterPipelineMode(conn) == 1 else { return false }
        if PQsetnonblocking(conn, 1) != 0 {
            PQexitPipelineMode(conn)
            return false
        }
        return true
    }

    /// Back to blocking mode outside a pipeline, once every result has been read. A connection that
    /// cannot leave pipeline mode has results in flight that nobody will read: it is closed.
    func endAsync() {
        guard let conn else { return }
        PQsetnonblocking(conn, 0)
        if PQexitPipelineMode(conn) != 1 { close() }
    }

    /// Queues statements, each with its own Sync so each is its own implicit transaction. Several are
    /// sent `TCP_CORK`ed (libpq 15's `PQpipelineSync` writes every time), so the server gets one
    /// segment. Returns how many were queued: fewer than given means the connection failed.
    func send(_ statements: [PipelinedStatement]) -> Int {
        guard let conn else { return 0 }
        let socket = PQsocket(conn)
        if statements.count > 1 { Self.cork(socket, true) }
        defer { if statements.count > 1 { Self.cork(socket, false) } }
        var sent = 0
        for statement in statements {
            let queued = Self.withParameters(statement.params) { n, types, values, lengths, formats in
                PQsendQueryParams(conn, statement.sql, n, types, values, lengths, formats, 0)
            }
            guard queued == 1, PQpipelineSync(conn) == 1 else { break }
            sent += 1
        }
        return sent
    }

    /// Writes what libpq holds for the server without blocking.
    func flushOutput() -> FlushState {
        guard let conn else { return .failed }
        switch PQflush(conn) {
        case 0: return .done
        case 1: return .pending
        default: return .failed
        }
    }

    /// Reads whatever the socket has into libpq's buffer. False when the connection failed.
    func consumeInput() -> Bool {
        guard let conn else { return false }
        return PQconsumeInput(conn) == 1 && PQstatus(conn) == CONNECTION_OK
    }

    /// Whether `PQgetResult` would have to wait for the server.
    var isBusy: Bool {
        guard let conn else { return false }
        return PQisBusy(conn) == 1
    }

    /// The next result (the caller clears it), or nil at the end of one statement's results.
    func nextResult() -> OpaquePointer? {
        conn.flatMap { PQgetResult($0) }
    }

    /// The last libpq error of this connection, for statements it failed.
    var lastErrorMessage: String {
        conn.map { Self.text(PQerrorMessage($0)) } ?? "connection closed"
    }

    /// TCP_CORK on or off; a no-op on Unix-domain sockets, where it does not apply.
    private static func cork(_ socket: Int32, _ on: Bool) {
        var value: Int32 = on ? 1 : 0
        _ = setsockopt(socket, Int32(IPPROTO_TCP), TCP_CORK, &value, socklen_t(MemoryLayout<Int32>.size))
    }
}
