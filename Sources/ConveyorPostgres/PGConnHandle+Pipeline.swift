import CLibPQ
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One parameterized statement of a pipeline.
struct PipelinedStatement: Sendable {
    var sql: String
    var params: [PostgresValue]
    /// Known to be one command (BEGIN, COMMIT, ROLLBACK sent by `transaction`), so it may be
    /// pipelined without parameters.
    var singleCommand = false

    /// A statement without parameters may hold several commands, which only the simple protocol
    /// (outside a pipeline) accepts; libpq sends at most 65535 parameters.
    var pipelinable: Bool { (!params.isEmpty || singleCommand) && params.count <= 65_535 }
}

extension PGConnHandle {
    /// Runs parameterized statements as one libpq pipeline: all are sent, then all results are read,
    /// so the batch costs one round trip. Each statement is followed by its own Sync, which makes it
    /// an implicit transaction of its own: a failing statement aborts nothing else.
    ///
    /// Calls `deliver` once per statement (its index, its outcome), in order, as soon as the outcome
    /// is known. If the connection breaks, the statements without a result yet fail with
    /// `.connectionLost` and the connection is closed (never reused broken).
    func executePipelined(_ statements: [PipelinedStatement],
                          _ deliver: (Int, Result<PostgresResult, PostgresError>) -> Void) {
        func failAll(_ error: (PipelinedStatement) -> PostgresError) {
            for (i, statement) in statements.enumerated() { deliver(i, .failure(error(statement))) }
        }
        guard let conn else {
            return failAll { PostgresError(code: .connectionLost, message: "not connected", query: $0.sql) }
        }
        guard PQenterPipelineMode(conn) == 1 else {
            let error = failure(nil, statements[0].sql)
            return failAll { _ in error }
        }

        // Send everything without blocking (`send`, corked): in blocking mode a large batch could
        // deadlock, we waiting to write while the server waits for us to read its results.
        PQsetnonblocking(conn, 1)
        let sent = send(statements)
        let flushed = sent == statements.count && flush(conn)
        if !flushed {
            // A failed send leaves the pipeline in an unknown state: give the connection up.
            let reason = Self.text(PQerrorMessage(conn))
            close()
            return failAll { PostgresError(code: .connectionLost, message: reason, query: $0.sql) }
        }
        PQsetnonblocking(conn, 0)

        for (i, statement) in statements.enumerated() {
            guard self.conn != nil else {
                deliver(i, .failure(PostgresError(code: .connectionLost, message: "connection closed", query: statement.sql)))
                continue
            }
            deliver(i, readOne(conn, statement.sql))
        }
        if self.conn != nil, PQexitPipelineMode(conn) != 1 {
            // Results left unread would be attributed to later statements: never reuse it.
            close()
        }
    }

    /// Reads one statement's results (until NULL) and then its Sync.
    private func readOne(_ conn: OpaquePointer, _ sql: String) -> Result<PostgresResult, PostgresError> {
        var outcome: Result<PostgresResult, PostgresError>?
        while let result = PQgetResult(conn) {
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            if status == PGRES_PIPELINE_SYNC {
                // A Sync without a preceding NULL: the statement's results are out of step.
                close()
                return .failure(PostgresError(code: .connectionLost, message: "pipeline out of step", query: sql))
            }
            guard outcome == nil else { continue }
            if status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY {
                outcome = .success(Self.decode(result))
            } else {
                // `failure` closes the connection if it is gone; keep reading only if it is not.
                outcome = .failure(failure(result, sql))
                if self.conn == nil { return outcome! }
            }
        }
        let sync = PQgetResult(conn)
        defer { if let sync { PQclear(sync) } }
        guard let sync, PQresultStatus(sync) == PGRES_PIPELINE_SYNC else {
            // No Sync: the connection broke (or the protocol is out of step). A server error is
            // final (the statement rolled back); otherwise it may or may not have committed (that
            // happens at the Sync), and its caller gets a connection failure.
            let error = failure(nil, sql)
            if self.conn != nil { close() }
            if case .failure(let first)? = outcome { return .failure(first) }
            return .failure(PostgresError(code: .connectionLost, message: error.message, query: sql))
        }
        return outcome ?? .failure(PostgresError(code: .connectionLost, message: "no result", query: sql))
    }

    /// Writes libpq's output buffer in non-blocking mode, reading input whenever the server has
    /// some (it may be blocked sending us results and not reading). False when the connection fails.
    private func flush(_ conn: OpaquePointer) -> Bool {
        while true {
            let pending = PQflush(conn)
            if pending == 0 { return true }
            if pending < 0 { return false }
            var descriptor = pollfd(fd: PQsocket(conn), events: Int16(POLLIN | POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, -1)
            if ready < 0 && errno != EINTR { return false }
            if descriptor.revents & Int16(POLLIN) != 0 && PQconsumeInput(conn) == 0 { return false }
        }
    }
}
