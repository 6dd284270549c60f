import Foundation
import Logging
import Metrics
import Synchronization

/// Where a client's connections connect: the URL's one server, or the master its Sentinels name
/// (docs/redis.md#sentinel). Shared by every connection of one `RedisClient`.
///
/// Following a failover: each connection remembers the `generation` it connected under and
/// reconnects when it changed. The generation moves when a Sentinel announces `+switch-master`
/// (`SentinelWatcher`), when a server answers `READONLY` (it was demoted to a replica), and when
/// a (re)connect finds the master at another address than before. Connection errors need nothing
/// more: every connect asks the Sentinels again.
public final class RedisEndpoint: Sendable {
    public let url: RedisURL
    private let logger: Logger
    private struct State {
        var generation = 0
        var master: RedisURL.Address?
        /// Sentinels in the order to ask them; the last one that answered goes first.
        var sentinels: [RedisURL.Address]
        /// How many times the master was seen to move (a counter for `conveyor_redis_master_changes_total`).
        var masterChanges = 0
    }
    private let state: Mutex<State>

    public init(url: RedisURL, logger: Logger = Logger(label: "conveyor.redis")) {
        self.url = url
        self.logger = logger
        state = Mutex(State(sentinels: url.sentinel?.addresses ?? []))
    }

    /// Changes whenever connections must reconnect to find the master.
    public var generation: Int { state.withLock { $0.generation } }

    /// How many times this client saw the master move to another address (0 without Sentinel).
    public var masterChanges: Int { state.withLock { $0.masterChanges } }

    /// The master last found, if any.
    public var master: RedisURL.Address? { state.withLock { $0.master } }

    /// Makes every connection reconnect, once per generation however many report it.
    public func invalidate(seen generation: Int, reason: String) {
        let moved = state.withLock { s -> Bool in
            guard s.generation == generation else { return false }
            s.generation += 1
            return true
        }
        if moved { logger.warning("redis master changed; connections reconnect", metadata: ["reason": "\(reason)", "url": "\(url)"]) }
    }

    /// Records a `+switch-master` announcement (`SentinelWatcher`).
    func switched(to address: RedisURL.Address) {
        let changed = state.withLock { s -> Bool in
            guard s.master != address else { return false }
            s.master = address
            s.generation += 1
            s.masterChanges += 1
            return true
        }
        if changed { Counter(label: "conveyor_redis_master_changes_total").increment() }
        if changed { logger.warning("Sentinel switched the master", metadata: ["master": "\(address)", "name": "\(url.sentinel?.masterName ?? "")"]) }
    }

    /// The data node to connect to now, with the generation it belongs to. Blocking: called only on
    /// a connection's own thread. With Sentinel, each Sentinel is asked in turn (short timeouts).
    func resolve(connectTimeout: Duration) throws(RedisError) -> (url: RedisURL, generation: Int) {
        guard let sentinel = url.sentinel else { return (url, generation) }
        let (order, generation) = state.withLock { ($0.sentinels, $0.generation) }
        var failures: [String] = []
        for address in order {
            do {
                let master = try Self.askMaster(sentinel: sentinel, at: address, connectTimeout: connectTimeout)
                let changed = state.withLock { s -> Bool in
                    s.sentinels.removeAll { $0 == address }
                    s.sentinels.insert(address, at: 0)
                    defer { s.master = master }
                    if let previous = s.master, previous != master {
                        s.masterChanges += 1
                        return true
                    }
                    return false
                }
                if changed { Counter(label: "conveyor_redis_master_changes_total").increment() }
                if changed { logger.warning("Sentinel names another master", metadata: ["master": "\(master)", "sentinel": "\(address)"]) }
                return (url.node(master), generation)
            } catch {
                failures.append("\(address): \(error.message)")
            }
        }
        throw RedisError(code: .connectFailed, message: "no Sentinel named a master for '\(sentinel.masterName)' (\(failures.joined(separator: "; ")))")
    }

    /// `SENTINEL GET-MASTER-ADDR-BY-NAME` on one Sentinel.
    static func askMaster(sentinel: RedisURL.Sentinel, at address: RedisURL.Address, connectTimeout: Duration) throws(RedisError) -> RedisURL.Address {
        let handle = RedisContextHandle()
        defer { handle.close() }
        let url = RedisURL(host: address.host, port: address.port, user: sentinel.user, password: sentinel.password)
        try handle.connect(url: url, connectTimeout: connectTimeout, commandTimeout: connectTimeout, checkMaster: false)
        let reply = try handle.execute([[Array("SENTINEL".utf8), Array("GET-MASTER-ADDR-BY-NAME".utf8), Array(sentinel.masterName.utf8)]])[0]
        if case .error(let message) = reply { throw RedisError.server(message) }
        guard let parts = reply.array, parts.count == 2, let host = parts[0].string, let port = parts[1].string.flatMap({ Int($0) }) else {
            throw RedisError(code: .connectFailed, message: "Sentinel does not know master '\(sentinel.masterName)'")
        }
        return RedisURL.Address(host: host, port: port)
    }
}
