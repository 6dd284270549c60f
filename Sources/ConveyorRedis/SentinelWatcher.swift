import Foundation
import Logging
import Synchronization

/// Listens to one Sentinel at a time for `+switch-master` (payload `<name> <old-ip> <old-port>
/// <new-ip> <new-port>`) and tells the endpoint, so a client follows a failover as soon as it is
/// announced rather than on its next error. Runs on a thread of its own (hiredis blocks).
final class SentinelWatcher: Sendable {
    private let endpoint: RedisEndpoint
    private let stopped = Atomic<Bool>(false)
    private let logger: Logger

    init(endpoint: RedisEndpoint, logger: Logger) {
        self.endpoint = endpoint
        self.logger = logger
        let thread = Thread { [self] in loop() }
        thread.name = "redis-sentinel-watch"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Ends the loop within about half a second.
    func stop() { stopped.store(true, ordering: .relaxed) }

    private var isStopped: Bool { stopped.load(ordering: .relaxed) }

    private func loop() {
        guard let sentinel = endpoint.url.sentinel else { return }
        var index = 0
        while !isStopped {
            let address = sentinel.addresses[index % sentinel.addresses.count]
            index += 1
            do {
                try listen(sentinel: sentinel, at: address)
            } catch {
                logger.debug("Sentinel subscription failed", metadata: ["sentinel": "\(address)", "error": "\(error)"])
            }
            // Between attempts, wait a little (in steps, to stop promptly).
            for _ in 0..<5 where !isStopped { Thread.sleep(forTimeInterval: 0.1) }
        }
    }

    private func listen(sentinel: RedisURL.Sentinel, at address: RedisURL.Address) throws(RedisError) {
        let handle = RedisContextHandle()
        defer { handle.close() }
        let url = RedisURL(host: address.host, port: address.port, user: sentinel.user, password: sentinel.password)
        try handle.connect(url: url, connectTimeout: .milliseconds(500), commandTimeout: .seconds(5))
        _ = try handle.execute([[Array("SUBSCRIBE".utf8), Array("+switch-master".utf8)]])[0].throwingError()
        while !isStopped {
            guard handle.waitReadable(.milliseconds(500)) else { continue }
            let message = try handle.readReply()
            guard let parts = message.array, parts.count == 3, parts[0].string == "message", let payload = parts[2].string else { continue }
            let words = payload.split(separator: " ")
            guard words.count == 5, words[0] == sentinel.masterName, let port = Int(words[4]) else { continue }
            endpoint.switched(to: RedisURL.Address(host: String(words[3]), port: port))
        }
    }
}
