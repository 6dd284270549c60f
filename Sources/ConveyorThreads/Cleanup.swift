/// Runs `body`, then `cleanup`, and returns (or rethrows) what `body` did only once `cleanup` has
/// finished: the next step never races a cleanup still on its way (a session closed before the
/// remote directory was removed, a VM handed out again before it was released).
///
/// `cleanup` runs in a task of its own, awaited, so it also runs in full when the caller was
/// cancelled (a cancelled job still removes its files). It must not throw: what it cannot do it
/// logs or ignores itself.
nonisolated(nonsending) public func withCleanup<T>(_ body: () async throws -> T,
                           cleanup: @escaping @Sendable () async -> Void) async throws -> T {
    let result: Result<T, any Error>
    do {
        result = .success(try await body())
    } catch {
        result = .failure(error)
    }
    await Task { await cleanup() }.value
    return try result.get()
}
