import ConveyorThreads
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process for test servers (shared by the Redis and Postgres client tests), started with `posix_spawn` rather than `Foundation.Process`:
/// it inherits nothing but stdin (/dev/null) and stdout/stderr (appended to a log file), so no
/// socket or pipe of the test process leaks into a long-lived server; it starts with no blocked
/// signals and default handlers (Dispatch's threads block nearly all signals, and a child would
/// inherit that mask); and we reap it ourselves.
public struct ChildProcess: Sendable {
    public let pid: pid_t

    public static func spawn(_ executable: String, _ arguments: [String], log: String) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        addCloseFrom(&actions, lowest: 3)
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
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw TestSetupError("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        return ChildProcess(pid: pid)
    }

    /// Runs a command to completion; throws with its output when it fails.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], log: String) async throws -> String {
        let offset = (try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? 0
        let child = try spawn(executable, arguments, log: log)
        let status = await child.wait()
        let output = (try? String(contentsOfFile: log, encoding: .utf8)).map { String($0.utf8.dropFirst(offset)) ?? $0 } ?? ""
        guard status == 0 else {
            throw TestSetupError("\(executable) \(arguments.joined(separator: " ")) failed (status \(status)): \(output)")
        }
        return output
    }

    public func signal(_ signal: Int32) {
        _ = Glibc.kill(pid, signal)
    }

    /// Waits for the process to end, on a thread of its own (never blocking the cooperative pool);
    /// returns the exit status, or 128 + the signal that ended it.
    public func wait() async -> Int32 {
        let pid = self.pid
        return await withCheckedContinuation { continuation in
            let thread = Thread {
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 {
                    if errno != EINTR {
                        continuation.resume(returning: -1)
                        return
                    }
                }
                let signal = status & 0x7f
                continuation.resume(returning: signal == 0 ? (status >> 8) & 0xff : 128 + signal)
            }
            thread.start()
        }
    }
}
