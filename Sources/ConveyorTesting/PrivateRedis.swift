import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A `redis-server` of a test's own, on a free loopback port, that the test may kill and restart
/// (the shared server of `scripts/services.sh start` must never be disturbed). Shared by the Redis
/// client's reconnect tests and the worker's log-buffering tests.
public final class PrivateRedis: Sendable {
    public let port: Int
    private let process = Mutex<ChildProcess?>(nil)
    private let directory: URL

    public var url: String { "redis://127.0.0.1:\(port)/0" }

    public init() throws {
        port = try freeLoopbackPort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cv-redis-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Starts the server and waits until it accepts connections.
    public func start() async throws {
        guard let binary = which("redis-server") else {
            throw TestSetupError("redis-server not found on PATH; install it with scripts/install-deps.sh (needed by \(TestEnvironment.startCommand) too)")
        }
        let log = directory.appendingPathComponent("redis.log").path
        let started = try ChildProcess.spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                                      "--dir", directory.path], log: log)
        process.withLock { $0 = started }
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if canConnect(port: port) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw TestSetupError("private redis-server on port \(port) did not start; see \(directory.path)/redis.log")
    }

    /// SIGKILL: the server vanishes without closing its sockets politely.
    public func kill() async {
        guard let p = process.withLock({ $0.take() }) else { return }
        p.signal(SIGKILL)
        _ = await p.wait()
    }

    public func stop() async {
        await kill()
        try? FileManager.default.removeItem(at: directory)
    }

    deinit {
        // A test that failed half-way still leaves no server behind.
        if let p = process.withLock({ $0 }) {
            p.signal(SIGKILL)
            var status: Int32 = 0
            _ = waitpid(p.pid, &status, 0)
        }
        try? FileManager.default.removeItem(at: directory)
    }
}


/// Whether something accepts TCP connections on 127.0.0.1:`port`.
func canConnect(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let result = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return result == 0
}

/// The path of an executable on PATH (or /usr/sbin, /usr/bin), for tests that start servers.
public func which(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for dir in path.split(separator: ":") + ["/usr/sbin", "/usr/bin"] {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}
