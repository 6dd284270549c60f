import ConveyorTesting
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A PostgreSQL cluster of a test's own (`initdb` into a temporary folder, a free loopback port),
/// which the test may stop abruptly and start again without disturbing the shared server of
/// `scripts/services.sh start`.
final class PrivatePostgres: Sendable {
    let port: Int
    let root: URL
    private let bin: String
    private let runAsPostgres = getuid() == 0
    private var data: URL { root.appendingPathComponent("data") }
    /// Output of initdb and pg_ctl, kept next to the cluster folder.
    private var commandLog: String { root.path + ".commands.log" }

    /// A URL for the `postgres` database as the `conveyor` superuser.
    var url: String { "postgres://conveyor@127.0.0.1:\(port)/postgres" }

    convenience init() async throws {
        try await self.init(standbyOf: nil)
    }

    /// With `standbyOf`, a streaming-replication standby of that (running) server, made with
    /// `pg_basebackup -R` (docs/runbook.md#postgresql-standby) instead of `initdb`.
    init(standbyOf primary: PrivatePostgres?) async throws {
        guard let bin = Self.binaries() else {
            throw TestSetupError("PostgreSQL server binaries (initdb) not found under /usr/lib/postgresql; install them with scripts/install-deps.sh (needed by \(TestEnvironment.startCommand) too)")
        }
        self.bin = bin
        port = try freeLoopbackPort()
        root = URL(fileURLWithPath: "/tmp").appendingPathComponent("cv-pg-\(UUID().uuidString.prefix(8).lowercased())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        if runAsPostgres {
            // initdb and postgres refuse to run as root: the folder belongs to the postgres user.
            try await ChildProcess.run("/bin/chown", ["-R", "postgres:postgres", root.path], log: commandLog)
        }
        if let primary {
            try await run("\(bin)/pg_basebackup", ["-h", "127.0.0.1", "-p", String(primary.port), "-U", "conveyor", "-D", data.path, "-R", "-X", "stream", "-c", "fast"])
        } else {
            try await run("\(bin)/initdb", ["-D", data.path, "-U", "conveyor", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
        }
    }

    /// `pg_ctl stop -m fast`: a clean shutdown (a standby receives everything first).
    func stop() async throws {
        try await run("\(bin)/pg_ctl", ["-D", data.path, "-m", "fast", "-w", "stop"])
    }

    /// `pg_ctl promote`: the standby becomes a primary that accepts writes.
    func promote() async throws {
        try await run("\(bin)/pg_ctl", ["-D", data.path, "-w", "promote"])
    }

    func start() async throws {
        try await run("\(bin)/pg_ctl", ["-D", data.path, "-l", root.appendingPathComponent("server.log").path, "-w", "-t", "60",
                                        "-o", "-p \(port) -c listen_addresses=127.0.0.1 -c unix_socket_directories=\(root.path) -c fsync=off",
                                        "start"])
    }

    /// `pg_ctl stop -m immediate`: the server quits without a checkpoint, dropping every connection.
    func stopImmediately() async throws {
        try await run("\(bin)/pg_ctl", ["-D", data.path, "-m", "immediate", "-w", "stop"])
    }

    /// Stops the server if it runs and removes its folder.
    func destroy() async {
        if FileManager.default.fileExists(atPath: data.appendingPathComponent("postmaster.pid").path) {
            try? await stopImmediately()
        }
        try? FileManager.default.removeItem(at: root)
        try? FileManager.default.removeItem(atPath: commandLog)
    }

    private func run(_ executable: String, _ arguments: [String]) async throws {
        if runAsPostgres {
            try await ChildProcess.run(which("runuser") ?? "/usr/sbin/runuser", ["-u", "postgres", "--", executable] + arguments, log: commandLog)
        } else {
            try await ChildProcess.run(executable, arguments, log: commandLog)
        }
    }

    private static func binaries() -> String? {
        let base = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        for version in versions.sorted(by: { (Int($0) ?? 0) > (Int($1) ?? 0) }) {
            let dir = "\(base)/\(version)/bin"
            if FileManager.default.isExecutableFile(atPath: "\(dir)/initdb") { return dir }
        }
        return nil
    }
}


func which(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin"] {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}
