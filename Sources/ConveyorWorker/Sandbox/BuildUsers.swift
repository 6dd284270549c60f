import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The unprivileged uids jobs run as: one per running job on this host (docs/security.md explains
/// why not one shared build user). A uid is held with an exclusive `flock` on
/// `<lockDirectory>/uid-<n>.lock`, so the nodes of one host never run two jobs as the same uid, and a
/// dead node's uids free themselves. Blocking calls: use from `offPool`.
final class BuildUsers: Sendable {
    let base: Int
    let count: Int
    let lockDirectory: String
    /// uid → the open lock file descriptor.
    private let held = Mutex<[Int: Int32]>([:])

    init(base: Int, count: Int, lockDirectory: String = "/run/conveyor-sandbox") {
        self.base = base
        self.count = count
        self.lockDirectory = lockDirectory
    }

    var uids: ClosedRange<Int> { (base + 1)...(base + count) }

    /// Fails when a uid of the range belongs to an account that is not a build user.
    func checkRange() throws {
        for uid in uids {
            guard let entry = getpwuid(uid_t(uid)) else { continue }
            let name = String(cString: entry.pointee.pw_name)
            if !name.hasPrefix("conveyor-build") {
                throw WorkerError("uid \(uid) (sandbox_uid_base \(base) + 1 … + \(count)) belongs to the account '\(name)'; jobs must not run as it. Choose another sandbox_uid_base")
            }
        }
        try FileManager.default.createDirectory(atPath: lockDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    /// A free uid, with any process left over under it killed (a job of a node that died).
    func acquire() throws -> Int {
        for uid in uids {
            let fd = open("\(lockDirectory)/uid-\(uid).lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw WorkerError("cannot open \(lockDirectory)/uid-\(uid).lock: \(String(cString: strerror(errno)))") }
            let taken = held.withLock { $0[uid] != nil }
            if taken || flock(fd, LOCK_EX | LOCK_NB) != 0 {
                close(fd)
                continue
            }
            held.withLock { $0[uid] = fd }
            Self.killProcesses(of: uid)
            return uid
        }
        throw ExecutorError(reason: "no_build_user", "all \(count) build uids of this host are in use (sandbox_uid_count); raise it to at least the slots of the host's nodes")
    }

    /// Kills whatever still runs as `uid`, then frees it.
    func release(_ uid: Int) {
        Self.killProcesses(of: uid)
        if let fd = held.withLock({ $0.removeValue(forKey: uid) }) { close(fd) }
    }

    /// SIGKILL to every process whose real, effective or saved uid is `uid`, until none is left.
    /// Only called for a uid this node holds, so no other job is touched.
    @discardableResult
    static func killProcesses(of uid: Int, rounds: Int = 100) -> Int {
        var killed = 0
        for _ in 0..<rounds {
            let victims = processes(of: uid)
            if victims.isEmpty { break }
            for pid in victims where kill(pid, SIGKILL) == 0 { killed += 1 }
            usleep(10_000)
        }
        return killed
    }

    static func processes(of uid: Int) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), let status = try? String(contentsOfFile: "/proc/\(entry)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return nil }
            let ids = line.split(whereSeparator: \.isWhitespace).dropFirst().prefix(3).compactMap { Int($0) }
            return ids.contains(uid) ? pid : nil
        }
    }
}
