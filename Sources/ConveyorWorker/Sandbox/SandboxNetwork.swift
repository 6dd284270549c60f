import ConveyorCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A job's outbound network: slirp4netns, run as the job's build uid and inside the job's cgroup,
/// attached to the network namespace the job's `unshare` made, and killed if the node dies (`--pdeathsig`). `--disable-host-loopback` keeps the
/// host's 127.0.0.1 out of reach; the host's other own addresses and `sandbox_deny_networks` are
/// refused by `SandboxFirewall` (nftables, by the build uids' socket owner).
enum SandboxNetwork {
    static let slirp = "/usr/bin/slirp4netns"

    /// Waits (bounded) until `pid` has left this process's network namespace, then starts slirp4netns
    /// for it. nil when the job ended first.
    static func attach(to pid: pid_t, uid: Int, cgroupProcs: [String]) async throws -> SpawnedProcess? {
        let own = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/net")
        var ready = false
        for _ in 0..<500 {
            guard let current = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/net") else { return nil }
            if current != own {
                ready = true
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        guard ready else { throw ExecutorError(reason: "sandbox_network", "the job's network namespace did not appear within 5 s") }
        let command = [SandboxPlan.Tools().shell, "-c", #"while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@""#, "sh"]
            + cgroupProcs + ["--", SandboxPlan.Tools().setpriv, "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--inh-caps=-all", "--no-new-privs",
                             // Killed with the node: a SIGKILLed node must not leave slirp4netns behind.
                             "--pdeathsig", "KILL", "--",
                             slirp, "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-seccomp",
                             "--userns-path=/proc/\(pid)/ns/user", "--netns-type=path", "/proc/\(pid)/ns/net", "tap0"]
        return try SpawnedProcess.spawn(command, environment: ["PATH": "/usr/bin:/bin"], output: { _ in })
    }
}

/// nftables rules that keep the build uids' sockets — in the host's network namespace only
/// slirp4netns has any — away from this host's own addresses and the denied networks. DNS to a
/// local resolver stays allowed (slirp4netns forwards the job's queries to the host's resolver).
enum SandboxFirewall {
    static let table = "conveyor_sandbox"

    static func ruleset(uids: ClosedRange<Int>, deny: [String]) -> String {
        let owner = "meta skuid \(uids.lowerBound)-\(uids.upperBound)"
        var rules = [
            "\(owner) udp dport 53 fib daddr type local accept",
            "\(owner) tcp dport 53 fib daddr type local accept",
            "\(owner) fib daddr type local reject",
        ]
        let v4 = deny.filter { !$0.contains(":") }
        let v6 = deny.filter { $0.contains(":") }
        if !v4.isEmpty { rules.append("\(owner) ip daddr { \(v4.joined(separator: ", ")) } reject") }
        if !v6.isEmpty { rules.append("\(owner) ip6 daddr { \(v6.joined(separator: ", ")) } reject") }
        return """
            table inet \(table)
            delete table inet \(table)
            table inet \(table) {
              chain output {
                type filter hook output priority 0; policy accept;
            \(rules.map { "    " + $0 }.joined(separator: "\n"))
              }
            }

            """
    }

    /// Installs the rules (replacing an older set); throws when nft is missing or refuses.
    static func install(uids: ClosedRange<Int>, deny: [String]) async throws {
        guard let nft = ["/usr/sbin/nft", "/sbin/nft"].first(where: FileManager.default.isExecutableFile) else {
            throw WorkerError("nft not found (install nftables)")
        }
        let file = NSTemporaryDirectory() + "conveyor-sandbox-\(getpid()).nft"
        try await offPool("sandbox-firewall") { try Data(ruleset(uids: uids, deny: deny).utf8).write(to: URL(fileURLWithPath: file)) }
        defer { unlink(file) }
        let result = try await Subprocess.run([nft, "-f", file], timeout: .seconds(20))
        guard result.status == 0 else {
            throw WorkerError("nft -f refused the rules: \(result.errorOutput.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
