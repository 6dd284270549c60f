import ConveyorThreads

/// Runs short blocking work (file system calls) on a thread of its own, never on the cooperative pool.
func offPool<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await offPoolThread(name, body)
}
