import Foundation

/// Single statements on the connection's own thread: what the pool's `StatementLoop` must not do
/// because it blocks (connecting), cannot pipeline (statements without parameters), or retries
/// after the connection was lost.
extension PostgresConnection {
    /// Runs `items` here, then hands the connection back to the pool. The pool has already marked it
    /// busy on its own thread.
    func runOnOwnThread(_ items: [QueuedStatement], retryingConnectionFailures: Bool, _ pool: ConnectionPool) {
        let accepted = thread.submit { [self] in
            if !items.isEmpty { run(items, retrying: retryingConnectionFailures) }
            pool.release(self)
        }
        if !accepted {
            // The thread is shut down (client closing): nothing can run here.
            for item in items {
                item.continuation.resume(throwing: PostgresError.clientClosed())
            }
        }
    }

    /// Runs one batch and resumes each caller with its own outcome as soon as it is known. With
    /// `retrying`, statements that met a connection failure run once more on this connection
    /// reconnected, so a server restart costs callers nothing.
    private func run(_ batch: [QueuedStatement], retrying: Bool) {
        var retry: [Int] = []
        execute(batch.map(\.statement)) { i, outcome in
            if retrying, case .failure(let error) = outcome, error.isConnectionFailure {
                retry.append(i)
            } else {
                batch[i].resume(with: outcome)
            }
        }
        if retry.isEmpty { return }
        execute(retry.map { batch[$0].statement }) { j, outcome in batch[retry[j]].resume(with: outcome) }
    }

    /// Connects if needed, then sends runs of parameterized statements as pipelines. A statement
    /// without parameters goes alone through the simple protocol, which allows several commands in
    /// one string (pipeline mode does not); a lone statement needs no pipeline either.
    private func execute(_ statements: [PipelinedStatement],
                         _ deliver: (Int, Result<PostgresResult, PostgresError>) -> Void) {
        do {
            try Self.connectIfNeeded(handle, settings)
        } catch {
            for i in statements.indices { deliver(i, .failure(error)) }
            return
        }
        var start = 0
        while start < statements.count {
            var end = start + 1
            if statements[start].pipelinable {
                while end < statements.count && statements[end].pipelinable { end += 1 }
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
}
