import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a reference tool to completion and returns its output (stdout and stderr).
///
/// Started with `posix_spawn`, not `Foundation.Process`: the child must begin with no blocked
/// signals (Dispatch's threads block nearly all of them and a child inherits the mask; `pgbench -T`
/// then never sees its SIGALRM and runs forever) and must inherit none of our sockets.
func runTool(_ executable: String, _ arguments: [String]) async throws -> String {
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-bench-\(getpid())-\(UUID().uuidString.prefix(8)).log").path
    defer { try? FileManager.default.removeItem(atPath: log) }

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    // glibc ≥ 2.34 has posix_spawn_file_actions_addclosefrom_np, which Swift's Glibc module does not export.
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
        _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
    }
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attributes, &none)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard spawned == 0 else { throw BenchError("cannot start \(executable): \(String(cString: strerror(spawned)))") }

    // Wait on a thread of its own: never block the cooperative pool.
    let child = pid
    let status: Int32 = await withCheckedContinuation { continuation in
        Thread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0 {
                if errno != EINTR {
                    continuation.resume(returning: -1)
                    return
                }
            }
            let signal = status & 0x7f
            continuation.resume(returning: signal == 0 ? (status >> 8) & 0xff : 128 + signal)
        }.start()
    }
    let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    guard status == 0 else {
        throw BenchError("\(executable) \(arguments.joined(separator: " ")) exited with \(status):\n\(output)")
    }
    return output
}

/// Finds `name` on PATH, then in the PostgreSQL server folders (`pgbench` lives there on Debian).
func findTool(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    var dirs = path.split(separator: ":").map(String.init)
    let pgRoot = "/usr/lib/postgresql"
    let versions = ((try? FileManager.default.contentsOfDirectory(atPath: pgRoot)) ?? []).sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
    dirs += versions.map { "\(pgRoot)/\($0)/bin" }
    for dir in dirs where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
        return "\(dir)/\(name)"
    }
    return nil
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
