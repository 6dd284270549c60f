import ConveyorRedis
import ConveyorTesting
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A master, a replica and one `redis-sentinel` (quorum 1) of a test's own, on free loopback ports,
/// with an ACL user (`conveyor`, password `sentinel-pw`) and the default user disabled, so every
/// client, the replica and the Sentinel must authenticate. The test may SIGKILL the master.
final class PrivateSentinelGroup: Sendable {
    static let user = "conveyor"
    static let password = "sentinel-pw"
    static let masterName = "cvmaster"
    let masterPort: Int
    let replicaPort: Int
    let sentinelPort: Int
    private let processes = Mutex<[String: ChildProcess]>([:])
    private let directory: URL

    /// The URL nodes are given.
    var url: String { "redis+sentinel://\(Self.user):\(Self.password)@127.0.0.1:\(sentinelPort)/\(Self.masterName)/0" }

    init() throws {
        masterPort = try freeLoopbackPort()
        replicaPort = try freeLoopbackPort()
        sentinelPort = try freeLoopbackPort()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("cv-sentinel-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    func start() async throws {
        guard let server = which("redis-server"), let sentinel = which("redis-sentinel") else {
            throw TestSetupError("redis-server and redis-sentinel are needed (Debian packages redis-server, redis-sentinel; scripts/install-deps.sh)")
        }
        let acl = ["user default off", "user \(Self.user) on >\(Self.password) ~* &* +@all", "save \"\"", "appendonly no", "bind 127.0.0.1",
                   "masteruser \(Self.user)", "masterauth \(Self.password)"]
        try spawn("master", server, acl + ["port \(masterPort)", "dbfilename master.rdb"])
        try spawn("replica", server, acl + ["port \(replicaPort)", "dbfilename replica.rdb", "replicaof 127.0.0.1 \(masterPort)"])
        try await waitUntil("the replica synced with the master") {
            (try? self.cli(self.replicaPort, ["INFO", "replication"]))?.contains("master_link_status:up") == true
        }
        try spawn("sentinel", sentinel, [
            "port \(sentinelPort)", "bind 127.0.0.1",
            "sentinel monitor \(Self.masterName) 127.0.0.1 \(masterPort) 1",
            "sentinel down-after-milliseconds \(Self.masterName) 1000",
            "sentinel failover-timeout \(Self.masterName) 4000",
            "sentinel auth-user \(Self.masterName) \(Self.user)",
            "sentinel auth-pass \(Self.masterName) \(Self.password)",
        ])
        // A failover needs a replica the Sentinel has seen (it learns them from the master's INFO).
        try await waitUntil("the Sentinel saw the replica") {
            (try? self.cli(self.sentinelPort, ["SENTINEL", "REPLICAS", Self.masterName], auth: false))?.contains(String(self.replicaPort)) == true
        }
    }

    /// SIGKILL of the master: the Sentinel promotes the replica after `down-after-milliseconds`.
    func killMaster() async {
        guard let p = processes.withLock({ $0.removeValue(forKey: "master") }) else { return }
        p.signal(SIGKILL)
        _ = await p.wait()
    }

    /// What the Sentinel says the master is, as a port.
    func sentinelMasterPort() -> Int? {
        guard let out = try? cli(sentinelPort, ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", Self.masterName], auth: false) else { return nil }
        return out.split(separator: "\n").last.flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// `redis-cli` against one of the group's servers (authenticated as the ACL user).
    func cli(_ port: Int, _ args: [String], auth: Bool = true) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: which("redis-cli") ?? "/usr/bin/redis-cli")
        process.arguments = ["-p", String(port)] + (auth ? ["--user", Self.user, "--pass", Self.password, "--no-auth-warning"] : []) + args
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw TestSetupError("redis-cli -p \(port) \(args.joined(separator: " ")) failed") }
        return String(decoding: data, as: UTF8.self)
    }

    func stop() async {
        let running = processes.withLock { processes in
            defer { processes = [:] }
            return processes
        }
        for (_, p) in running {
            p.signal(SIGKILL)
            _ = await p.wait()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    private func spawn(_ name: String, _ binary: String, _ config: [String]) throws {
        let file = directory.appendingPathComponent("\(name).conf")
        try (config + ["dir \(directory.path)"]).joined(separator: "\n").appending("\n")
            .write(to: file, atomically: true, encoding: .utf8)
        let process = try ChildProcess.spawn(binary, [file.path], log: directory.appendingPathComponent("\(name).log").path)
        processes.withLock { $0[name] = process }
    }

    private func waitUntil(_ what: String, _ condition: @escaping () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if condition() { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw TestSetupError("timed out waiting until \(what); see \(directory.path)/*.log")
    }

    deinit {
        for (_, p) in processes.withLock({ $0 }) {
            p.signal(SIGKILL)
            var status: Int32 = 0
            _ = waitpid(p.pid, &status, 0)
        }
        try? FileManager.default.removeItem(at: directory)
    }
}
