import Foundation

/// Single statements on a connection's own thread: what the event loop must not do because it
/// blocks (connecting) or cannot pipeline (statements without parameters).
extension PostgresConnection {
    /// Connects if needed, then sends runs of parameterized statements as pipelines, delivering
    /// each statement's outcome (its index, its outcome) as soon as it is known. A statement without
    /// parameters goes alone through the simple protocol, which allows several commands in one
    /// string (pipeline mode does not); a lone statement needs no pipeline either. Nothing is run
    /// twice: a connection lost under a statement fails it and the rest of its pipeline.
    static func execute(_ statements: [PipelinedStatement], _ handle: PGConnHandle, _ settings: PostgresClient.Configuration,
                        _ deliver: (Int, Result<PostgresResult, PostgresError>) -> Void) {
        var start = 0
        while start < statements.count {
            do {
                // Also after a loss under an earlier statement: the ones after it were never sent.
                try connectIfNeeded(handle, settings)
            } catch {
                for i in start..<statements.count { deliver(i, .failure(error)) }
                return
            }
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
