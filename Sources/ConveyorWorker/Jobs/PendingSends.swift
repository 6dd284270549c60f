import Foundation

/// State updates sent in the background while the attempt goes on (`received`, `started`): each is
/// one Redis round trip the job need not wait for, since the hub converges on any arrival order.
/// They are awaited before the attempt's final update, so the stream still reads in order.
final class PendingSends: @unchecked Sendable {
    // @unchecked Sendable: `tasks` is only touched with `lock` held.
    private let lock = NSLock()
    private var tasks: [Task<Void, Never>] = []

    func add(_ send: @escaping @Sendable () async -> Void) {
        let task = Task { await send() }
        lock.withLock { tasks.append(task) }
    }

    func waitAll() async {
        let waiting = lock.withLock { () -> [Task<Void, Never>] in
            defer { tasks.removeAll() }
            return tasks
        }
        for task in waiting { await task.value }
    }
}
