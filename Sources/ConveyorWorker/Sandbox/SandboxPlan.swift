/// The command that runs one job's script confined (docs/security.md), built from plain values so
/// it is unit-tested without running anything:
///
///     sh (enters the job's cgroups) → prlimit (only without cgroups) → setpriv (the build uid, no
///     capabilities, no new privileges) → unshare --user --net (a network namespace the build uid
///     owns, so slirp4netns can attach to it) → bwrap (PID, IPC, UTS, mount namespaces; only the
///     job's directory writable) → bash script
struct SandboxPlan: Sendable, Equatable {
    var uid: Int
    var home: String
    var script: String
    /// Outbound network through slirp4netns; false: only the namespace's own loopback.
    var network: Bool
    /// Host paths shown read-only at the same place (a `file://` repository).
    var readOnly: [String] = []
    /// Existing paths under the mounted system directories hidden behind an empty tmpfs.
    var hidden: [String] = []
    /// Files bound read-only over system files: sandbox path → host file (passwd, resolv.conf…).
    var overlays: [String: String] = [:]
    /// `/bin`, `/lib`…: a symlink target on merged-/usr hosts, nil where it is a real directory.
    var rootLinks: [String: String?] = [:]
    /// `cgroup.procs` files to enter before anything else; empty when no cgroup is writable.
    var cgroupProcs: [String] = []
    /// Fallback limits as `prlimit` options, used when `cgroupProcs` is empty.
    var rlimits: [String] = []
    var tools = Tools()

    struct Tools: Sendable, Equatable {
        var shell = "/bin/sh"
        var prlimit = "/usr/bin/prlimit"
        var setpriv = "/usr/bin/setpriv"
        var unshare = "/usr/bin/unshare"
        var bwrap = "/usr/bin/bwrap"
    }

    /// How long the script waits for slirp4netns to configure `tap0` before it runs anyway.
    static let networkWaitRounds = 200

    func arguments() -> [String] {
        var args = [tools.shell, "-c", #"while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@""#, "sh"]
        args += cgroupProcs + ["--"]
        if cgroupProcs.isEmpty && !rlimits.isEmpty { args += [tools.prlimit] + rlimits + ["--"] }
        args += [tools.setpriv, "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        if network { args += [tools.unshare, "--user", "--map-current-user", "--net", "--"] }
        args += [tools.bwrap, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if !network { args.append("--unshare-net") }
        args += ["--die-with-parent", "--new-session", "--hostname", "conveyor", "--ro-bind", "/usr", "/usr"]
        for (path, target) in rootLinks.sorted(by: { $0.key < $1.key }) {
            if let target { args += ["--symlink", target, path] } else { args += ["--ro-bind", path, path] }
        }
        args += ["--ro-bind", "/etc", "/etc"]
        for path in hidden.sorted() { args += ["--tmpfs", path] }
        for (path, source) in overlays.sorted(by: { $0.key < $1.key }) { args += ["--ro-bind", source, path] }
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/var/tmp", "--tmpfs", "/run"]
        for path in readOnly { args += ["--ro-bind", path, path] }
        // The sandbox's own root (a tmpfs holding the mount points) read-only: the job writes only
        // its home and its private /tmp, /var/tmp, /run.
        args += ["--bind", home, home, "--remount-ro", "/", "--chdir", home, "/bin/bash"]
        if network {
            // slirp4netns configures tap0 from outside once the namespace exists; wait for its route.
            args += ["-c", """
                for i in $(seq 1 \(Self.networkWaitRounds)); do grep -q '^tap0\t00000000' /proc/net/route && break; sleep 0.05; done
                grep -q '^tap0\t00000000' /proc/net/route || echo 'conveyor: the job network did not come up; running without it' >&2
                exec /bin/bash "$0"
                """]
        }
        args.append(script)
        return args
    }

    /// The build user's passwd line added to the host's (a name for `whoami`, ssh and git).
    static func passwd(host: String, uid: Int, home: String) -> String {
        let kept = host.split(separator: "\n").filter { $0.split(separator: ":", omittingEmptySubsequences: false).dropFirst(2).first != Substring(String(uid)) }
        return (kept + ["conveyor-build:x:\(uid):\(uid):Conveyor build:\(home):/bin/bash"]).joined(separator: "\n") + "\n"
    }

    static func group(host: String, uid: Int) -> String {
        let kept = host.split(separator: "\n").filter { $0.split(separator: ":", omittingEmptySubsequences: false).dropFirst(2).first != Substring(String(uid)) }
        return (kept + ["conveyor-build:x:\(uid):"]).joined(separator: "\n") + "\n"
    }

    /// slirp4netns's resolver, as the job sees it.
    static let resolvConf = "nameserver 10.0.2.3\n"
    static let hosts = "127.0.0.1 localhost conveyor\n::1 localhost ip6-localhost ip6-loopback\n"

    /// `prlimit` options standing in for cgroup limits: processes per uid (each job has its own),
    /// data segment per process (approximate), file size for the disk limit.
    static func rlimits(_ limits: JobLimits) -> [String] {
        var options: [String] = []
        if let pids = limits.pids { options.append("--nproc=\(pids)") }
        if let memory = limits.memoryBytes { options.append("--data=\(memory)") }
        if let disk = limits.diskBytes { options.append("--fsize=\(disk)") }
        return options
    }
}
