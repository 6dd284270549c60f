import ServiceLifecycle

/// Runs `services` in the background while `body` runs, then cancels them and waits for them to end.
public func withServices<T: Sendable>(_ services: [any Service], _ body: () async throws -> T) async throws -> T {
    let tasks = services.map { service in Task { try? await service.run() } }
    do {
        let value = try await body()
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        return value
    } catch {
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        throw error
    }
}
