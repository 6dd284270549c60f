import Foundation

/// Draining the pool's queue of single statements, on the connection's own thread.
extension PostgresConnection {
    /// Starts this connection's thread on the pool's queue; the pool has already counted it as
    /// draining. It runs batch after batch until `nextBatch` lets it go.
    func drain(_ pool: ConnectionPool) {
        let accepted = thread.submit { [self] in
            while let batch = pool.nextBatch(for: self) { run(batch) }
        }
        if !accepted {
            // The thread is shut down (client closing): nothing can run here.
            while let batch = pool.nextBatch(for: self) {
                for item in batch {
                    item.continuation.resume(throwing: PostgresError(code: .closed, message: "client closed"))
                }
            }
        }
    }

    /// Runs one batch and resumes each caller with its own outcome as soon as it is known.
    /// Statements that met a connection failure are run once more, on this connection reconnected
    /// (as the one-connection-per-statement path did), so a server restart costs callers nothing.
    private func run(_ batch: [QueuedStatement]) {
        var retry: [Int] = []
        execute(batch.map(\.statement)) { i, outcome in
            if case .failure(let error) = outcome, error.isConnectionFailure {
                retry.append(i)
            } else {
                Self.resume(batch[i], outcome)
            }
        }
        if retry.isEmpty { return }
        execute(retry.map { batch[$0].statement }) { j, outcome in Self.resume(batch[retry[j]], outcome) }
    }

    /// Connects if needed, then sends runs of parameterized statements as pipelines. A statement
    /// without parameters goes alone through the simple protocol, which allows several commands in
    /// one string (pipeline mode does not); a lone statement needs no pipeline either.
    private func execute(_ statements: [PipelinedStatement],
                         _ deliver: (Int, Result<PostgresResult, PostgresError>) -> Void) {
        if !handle.isConnected {
            do {
                try handle.connect(url: settings.url, connectTimeoutSeconds: settings.connectTimeoutSeconds,
                                   statementTimeoutMilliseconds: settings.statementTimeoutMilliseconds)
            } catch {
                for i in statements.indices { deliver(i, .failure(error)) }
                return
            }
        }
        var start = 0
        while start < statements.count {
            var end = start + 1
            if Self.pipelinable(statements[start]) {
                while end < statements.count && Self.pipelinable(statements[end]) { end += 1 }
            }
            if end - start == 1 {
                let statement = statements[start]
                deliver(start, Result { () throws(PostgresError) in try handle.execute(statement.sql, statement.params) })
            } else {
                let offset = start
                handle.executePipelined(Array(statements[start..<end])) { i, outcome in deliver(offset + i, outcome) }
            }
            start = end
        }
    }

    /// libpq sends at most 65535 parameters; `execute` reports the error for larger ones.
    private static func pipelinable(_ statement: PipelinedStatement) -> Bool {
        !statement.params.isEmpty && statement.params.count <= 65_535
    }

    private static func resume(_ item: QueuedStatement, _ outcome: Result<PostgresResult, PostgresError>) {
        switch outcome {
        case .success(let result): item.continuation.resume(returning: result)
        case .failure(let error): item.continuation.resume(throwing: error)
        }
    }
}
