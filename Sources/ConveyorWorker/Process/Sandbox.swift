import Foundation

/// How the local executor confines a build: bubblewrap (separate PID, IPC and UTS namespaces,
/// optionally no network, a read-only system, only the job's work directory writable), or nothing.
public struct Sandbox: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case bubblewrap(network: Bool)
        case none
    }

    public var kind: Kind
    public var bwrapPath: String

    public init(kind: Kind, bwrapPath: String = "/usr/bin/bwrap") {
        self.kind = kind
        self.bwrapPath = bwrapPath
    }

    public var name: String {
        switch kind {
        case .bubblewrap(let network): network ? "bwrap" : "bwrap, no network"
        case .none: "no sandbox"
        }
    }

    /// The command that runs `bash script` in `directory`, with `readOnly` paths visible.
    func command(script: String, directory: String, readOnly: [String]) -> [String] {
        guard case .bubblewrap(let network) = kind else {
            return ["/bin/bash", "-c", #"cd -- "$0" && exec /bin/bash "$1""#, directory, script]
        }
        var args = [bwrapPath] + namespaceFlags(network: network) + ["--die-with-parent", "--new-session",
                                                                       "--hostname", "conveyor", "--ro-bind", "/usr", "/usr"]
        // Debian 12 is merged-/usr: /bin, /lib… are symlinks into /usr; keep whatever shape the host has.
        for path in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                args += ["--symlink", target, path]
            } else if FileManager.default.fileExists(atPath: path) {
                args += ["--ro-bind", path, path]
            }
        }
        // /etc brings passwd, resolv.conf, ssl certificates and gitconfig; /tmp is private.
        args += ["--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for path in readOnly where FileManager.default.fileExists(atPath: path) {
            args += ["--ro-bind", path, path]
        }
        args += ["--bind", directory, directory, "--chdir", directory, "/bin/bash", script]
        return args
    }

    private func namespaceFlags(network: Bool) -> [String] {
        ["--unshare-pid", "--unshare-ipc", "--unshare-uts"] + (network ? [] : ["--unshare-net"])
    }

    /// Checks that bubblewrap can create its namespaces here (containers often forbid it), so a
    /// misconfigured node fails at start with advice instead of erroring every job.
    func probe() async throws {
        guard case .bubblewrap(let network) = kind else { return }
        guard FileManager.default.isExecutableFile(atPath: bwrapPath) else {
            throw WorkerError("sandbox bwrap: \(bwrapPath) not found; install bubblewrap, or set sandbox: none (CONVEYOR_SANDBOX=none) on a host that isolates jobs otherwise")
        }
        let output = OutputBuffer()
        let process = try SpawnedProcess.spawn([bwrapPath] + namespaceFlags(network: network) + ["--ro-bind", "/", "/", "/bin/true"],
                                               environment: ["PATH": "/usr/bin:/bin"], output: output.append)
        let outcome = await process.wait()
        guard outcome == .exited(0) else {
            throw WorkerError("sandbox bwrap cannot create namespaces on this host (\(outcome.exitDescription): \(output.text.trimmingCharacters(in: .whitespacesAndNewlines))). "
                + "Allow unprivileged user namespaces, or set sandbox: none (CONVEYOR_SANDBOX=none) where jobs are isolated otherwise (a VM, a dedicated container)")
        }
    }
}

/// A failure that stops the worker service itself (bad configuration), not one job.
public struct WorkerError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Collects output delivered from another thread.
final class OutputBuffer: @unchecked Sendable {
    // @unchecked Sendable: `bytes` is only touched with `lock` held.
    private let lock = NSLock()
    private var bytes: [UInt8] = []

    @Sendable func append(_ chunk: [UInt8]) {
        lock.withLock { bytes += chunk }
    }

    var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }
}
