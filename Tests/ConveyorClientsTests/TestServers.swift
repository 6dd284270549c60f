import ConveyorSSH
import Foundation
import Synchronization

/// Reads the addresses of the servers that `scripts/test-servers.sh start` runs. Integration tests
/// fail (never skip) when they are missing.
enum TestServers {
    struct Missing: Error, CustomStringConvertible {
        var name: String
        var description: String {
            "\(name) is not set: run `scripts/test-servers.sh start` and "
                + "`eval \"$(scripts/test-servers.sh env)\"` before `swift test`"
        }
    }

    struct Unreachable: Error, CustomStringConvertible {
        var server: String
        var underlying: any Error
        var description: String {
            "\(server) is not answering (\(underlying)): is `scripts/test-servers.sh start` running?"
        }
    }

    /// Runs `body`, turning a connection failure into an error that names the start script.
    static func reaching<T>(_ server: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as SSHError where error.message.contains("cannot connect") {
            throw Unreachable(server: server, underlying: error)
        } catch let error as HTTPClientError where error.status == nil && error.message.contains("onnect") {
            throw Unreachable(server: server, underlying: error)
        }
    }

    static func require(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw Missing(name: name)
        }
        return value
    }
}

/// Thread-safe byte sink for output callbacks.
final class Collected: Sendable {
    private let streams = Mutex<[String: [UInt8]]>([:])

    func append(_ key: String, _ bytes: [UInt8]) {
        streams.withLock { $0[key, default: []] += bytes }
    }

    func text(_ key: String) -> String {
        streams.withLock { String(decoding: $0[key] ?? [], as: UTF8.self) }
    }

    func count(_ key: String) -> Int {
        streams.withLock { $0[key]?.count ?? 0 }
    }
}

import ConveyorHTTPClient

/// Runs `body` with a fresh client and always shuts it down (its deinit asserts that).
@discardableResult
func withHTTP<T>(threads: Int = 1, _ body: (CurlHTTPClient) async throws -> T) async throws -> T {
    let http = CurlHTTPClient(threads: threads)
    do {
        let result = try await body(http)
        await http.shutdown()
        return result
    } catch {
        await http.shutdown()
        throw error
    }
}
