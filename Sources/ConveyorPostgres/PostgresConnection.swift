import ConveyorThreads

/// One libpq connection confined to its own thread, reconnecting after failures.
public final class PostgresConnection: @unchecked Sendable {
    // @unchecked Sendable: `handle` is only touched inside closures run on `thread`.
    private let thread: DedicatedThread
    private let handle = PGConnHandle()
    let settings: PostgresClient.Configuration

    init(settings: PostgresClient.Configuration, name: String) {
        self.settings = settings
        self.thread = DedicatedThread(name: name)
    }

    /// Runs one statement. A lost connection is reconnected on the next call, never reused broken.
    public func query(_ sql: String, _ params: [PostgresValue] = []) async throws -> PostgresResult {
        try await thread.run { [handle, settings] () throws -> PostgresResult in
            if !handle.isConnected {
                try handle.connect(url: settings.url, connectTimeoutSeconds: settings.connectTimeoutSeconds,
                                   statementTimeoutMilliseconds: settings.statementTimeoutMilliseconds)
            }
            return try handle.execute(sql, params)
        }
    }

    public func query(_ sql: String, _ params: any PostgresEncodable...) async throws -> PostgresResult {
        try await query(sql, params.map(\.postgresValue))
    }

    func disconnectForRetry() async {
        _ = await thread.run { [handle] in handle.close() }
    }

    func close() async {
        _ = await thread.run { [handle] in handle.close() }
        thread.shutdown()
    }
}
