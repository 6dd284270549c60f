import Foundation
import Synchronization

/// A Lua script called by SHA (`EVALSHA`), loaded on first use and reloaded after `NOSCRIPT`
/// (a restarted server or a `SCRIPT FLUSH`).
public final class RedisScript: Sendable {
    public let name: String
    public let source: String
    /// The SHA the server knows the script by, once loaded.
    private let sha = Mutex<String?>(nil)

    public init(name: String, source: String) {
        self.name = name
        self.source = source
    }

    /// Loads `<name>.lua` from a bundle's `Scripts` folder.
    public convenience init(name: String, bundle: Bundle, subdirectory: String = "Scripts") throws {
        guard let url = bundle.url(forResource: name, withExtension: "lua", subdirectory: subdirectory) else {
            throw RedisError(code: .protocolError, message: "script \(name).lua not found in \(bundle.bundlePath)")
        }
        self.init(name: name, source: try String(contentsOf: url, encoding: .utf8))
    }

    func currentSHA() -> String? {
        sha.withLock { $0 }
    }

    func store(_ value: String?) {
        sha.withLock { $0 = value }
    }
}

extension RedisClient {
    /// Runs `script` with `EVALSHA`; loads it first when needed and once more on `NOSCRIPT`.
    @discardableResult
    public func evaluate(_ script: RedisScript, keys: [RedisArgument], args: [RedisArgument]) async throws -> RedisValue {
        for _ in 0..<2 {
            let sha = try await loadedSHA(script)
            let reply = try await pipeline([["EVALSHA", RedisArgument(sha), RedisArgument(keys.count)] + keys + args])[0]
            if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
                script.store(nil)
                continue
            }
            return try reply.throwingError()
        }
        throw RedisError(code: .server, message: "NOSCRIPT persisted for \(script.name) after reload")
    }

    /// Runs `script` once per call in one pipeline; replies come back in call order, a script error
    /// as an `.error` value for its own call. Calls that met `NOSCRIPT` are sent again after a reload.
    public func evaluateMany(_ script: RedisScript, calls: [(keys: [RedisArgument], args: [RedisArgument])]) async throws -> [RedisValue] {
        if calls.isEmpty { return [] }
        var replies = [RedisValue?](repeating: nil, count: calls.count)
        var remaining = Array(calls.indices)
        for _ in 0..<2 where !remaining.isEmpty {
            let sha = try await loadedSHA(script)
            let sent = try await pipeline(remaining.map { i in
                ["EVALSHA", RedisArgument(sha), RedisArgument(calls[i].keys.count)] + calls[i].keys + calls[i].args
            })
            var retry: [Int] = []
            for (i, reply) in zip(remaining, sent) {
                if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") { retry.append(i) } else { replies[i] = reply }
            }
            if !retry.isEmpty { script.store(nil) }
            remaining = retry
        }
        if !remaining.isEmpty { throw RedisError(code: .server, message: "NOSCRIPT persisted for \(script.name) after reload") }
        return replies.map { $0! }
    }

    private func loadedSHA(_ script: RedisScript) async throws -> String {
        if let sha = script.currentSHA() { return sha }
        let reply = try await send(["SCRIPT", "LOAD", RedisArgument(script.source)])
        guard let sha = reply.string else {
            throw RedisError(code: .protocolError, message: "SCRIPT LOAD of \(script.name) returned \(reply)")
        }
        script.store(sha)
        return sha
    }
}
