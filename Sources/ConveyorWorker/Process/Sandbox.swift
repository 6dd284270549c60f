import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How the local executor confines a build (docs/security.md): bubblewrap as an unprivileged build
/// uid, in its own cgroup, network namespace (slirp4netns or none), PID, IPC, UTS and mount
/// namespaces with only the job's directory writable; or nothing (development only).
public struct Sandbox: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case bubblewrap(network: Bool)
        case none
    }

    public var kind: Kind
    public var bwrapPath: String
    /// Jobs run as `uidBase + 1 … + uidCount`.
    public var uidBase: Int
    public var uidCount: Int
    public var denyNetworks: [String]
    /// Names the node's cgroup directory.
    public var nodeID: String
    /// Directories never shown to a job, hidden where they lie under a mounted one (`/etc/conveyor`).
    public var hiddenPaths: [String]
    /// Where uid locks live (one per host).
    public var lockDirectory: String

    public init(kind: Kind, bwrapPath: String = "/usr/bin/bwrap", uidBase: Int = 59000, uidCount: Int = 64,
                denyNetworks: [String] = ["169.254.0.0/16"], nodeID: String = "node",
                hiddenPaths: [String] = ["/etc/conveyor", "/etc/ssh", "/etc/redis", "/etc/postgresql"],
                lockDirectory: String = "/run/conveyor-sandbox") {
        self.kind = kind
        self.bwrapPath = bwrapPath
        self.uidBase = uidBase
        self.uidCount = uidCount
        self.denyNetworks = denyNetworks
        self.nodeID = nodeID
        self.hiddenPaths = hiddenPaths
        self.lockDirectory = lockDirectory
    }

    public var name: String {
        switch kind {
        case .bubblewrap(let network): network ? "bwrap, build user, slirp4netns" : "bwrap, build user, no network"
        case .none: "no sandbox"
        }
    }

    var network: Bool {
        if case .bubblewrap(let network) = kind { return network }
        return false
    }
}

/// What a prepared sandbox host holds: the build uids, the node's cgroups (nil: rlimits instead), and
/// what is weaker than it should be.
struct SandboxHost: Sendable {
    let users: BuildUsers
    let cgroups: CgroupManager?
    let warnings: [String]

    /// Checks that this host can run sandboxed jobs, so a misconfigured node fails at start with advice
    /// instead of erroring every job; sets up cgroups and the network rules.
    static func prepare(_ sandbox: Sandbox) async throws -> SandboxHost {
        guard geteuid() == 0 else {
            throw WorkerError("sandbox bwrap runs each job as an unprivileged build uid and needs the node to run as root (deploy/conveyor-node@.service); set sandbox: none (CONVEYOR_SANDBOX=none) only on a development machine, where jobs then run as the node's own user")
        }
        let tools = SandboxPlan.Tools()
        for tool in [sandbox.bwrapPath, tools.setpriv, tools.unshare, tools.prlimit] + (sandbox.network ? [SandboxNetwork.slirp] : [])
        where !FileManager.default.isExecutableFile(atPath: tool) {
            throw WorkerError("sandbox bwrap: \(tool) not found; run scripts/install-deps.sh (bubblewrap, util-linux, slirp4netns)")
        }
        if sandbox.network {
            var info = stat()
            if stat("/dev/net/tun", &info) != 0 || info.st_mode & 0o006 != 0o006 {
                throw WorkerError("sandbox_network: /dev/net/tun must be readable and writable by the build users (mode 0666, Debian's default) for slirp4netns; run scripts/install-deps.sh, or set sandbox_network: false")
            }
        }
        let users = BuildUsers(base: sandbox.uidBase, count: sandbox.uidCount, lockDirectory: sandbox.lockDirectory)
        try await offPool("sandbox-users") { try users.checkRange() }
        var warnings: [String] = []
        let cgroups: CgroupManager?
        do {
            cgroups = try await offPool("sandbox-cgroups") { try CgroupManager.prepare(node: sandbox.nodeID) }
        } catch {
            cgroups = nil
            warnings.append("no writable cgroup (\(error)): job limits fall back to rlimits (memory per process, processes per build uid, no CPU limit) and cleanup to killing the build uid's processes")
        }
        if sandbox.network {
            do {
                try await SandboxFirewall.install(uids: users.uids, deny: sandbox.denyNetworks)
            } catch {
                warnings.append("the job network's firewall is not installed (\(error)): jobs can reach this host's non-loopback addresses and \(sandbox.denyNetworks.joined(separator: ", "))")
            }
        }
        let host = SandboxHost(users: users, cgroups: cgroups, warnings: warnings)
        try await host.selfTest(sandbox)
        return host
    }

    /// Runs `true` the way jobs run, so a host that forbids user namespaces fails at start.
    private func selfTest(_ sandbox: Sandbox) async throws {
        let directory = "/tmp/conveyor-sandbox-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let uid = try await offPool("sandbox-probe") { [users] in
            let uid = try users.acquire()
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            chown(directory, uid_t(uid), gid_t(uid))
            return uid
        }
        defer { users.release(uid); try? FileManager.default.removeItem(atPath: directory) }
        var plan = SandboxPlan(uid: uid, home: directory, script: "/dev/null", network: false)
        plan.tools.bwrap = sandbox.bwrapPath
        plan.rootLinks = Self.rootLinks()
        let output = OutputBuffer()
        let process = try SpawnedProcess.spawn(plan.arguments(), environment: ["PATH": "/usr/bin:/bin"], output: output.append)
        let outcome = await process.wait()
        guard outcome == .exited(0) else {
            throw WorkerError("sandbox bwrap cannot run a job here (\(outcome.exitDescription): \(output.text.trimmingCharacters(in: .whitespacesAndNewlines))). "
                + "Allow unprivileged user namespaces (user.max_user_namespaces > 0), or set sandbox: none (CONVEYOR_SANDBOX=none) where jobs are isolated otherwise (a VM, a dedicated container)")
        }
    }

    /// Debian 12 is merged-/usr: /bin, /lib… are symlinks into /usr; keep whatever shape the host has.
    static func rootLinks() -> [String: String?] {
        var links: [String: String?] = [:]
        for path in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                links[path] = .some(target)
            } else if FileManager.default.fileExists(atPath: path) {
                links[path] = .some(nil)
            }
        }
        return links
    }
}

/// A failure that stops the worker service itself (bad configuration), not one job.
public struct WorkerError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Collects output delivered from another thread.
final class OutputBuffer: Sendable {
    private let bytes = Mutex<[UInt8]>([])

    @Sendable func append(_ chunk: [UInt8]) {
        bytes.withLock { $0 += chunk }
    }

    var text: String { bytes.withLock { String(decoding: $0, as: UTF8.self) } }
}
