import Synchronization

/// Configs already read, by remote and commit. A commit never changes, so an entry never goes
/// stale; the cache only saves the `git` subprocesses when many requests name the same commit
/// (a burst of pushes, restarts, API requests for one sha). Bounded: emptied when full.
final class ConfigCache: Sendable {
    private let entries = Mutex<[String: ConfigFetcher.Fetched?]>([:])
    private let capacity: Int

    init(capacity: Int = 512) {
        self.capacity = capacity
    }

    /// `.some(nil)` is a known commit without a config file; nil means not cached.
    func lookup(url: String, sha: String) -> ConfigFetcher.Fetched?? {
        entries.withLock { $0[Self.key(url, sha)] }
    }

    func store(_ fetched: ConfigFetcher.Fetched?, url: String, sha: String) {
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[Self.key(url, sha)] = .some(fetched)
        }
    }

    private static func key(_ url: String, _ sha: String) -> String { url + "\n" + sha.lowercased() }
}
