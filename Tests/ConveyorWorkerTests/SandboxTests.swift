import ConveyorCore
import ConveyorTesting
import Foundation
import Synchronization
import Testing
@testable import ConveyorWorker

/// Real jobs in the real sandbox: bubblewrap as a build uid, cgroups of this host, slirp4netns.
/// Needs root, bubblewrap, slirp4netns and writable cgroups (scripts/install-deps.sh); fails otherwise.
@Suite("Sandbox: hostile jobs in bubblewrap, cgroups and slirp4netns", .serialized)
struct SandboxTests {
    static let root = NSTemporaryDirectory() + "conveyor-sandbox-tests-\(getpid())"

    func executor(network: Bool = true) -> LocalExecutor {
        LocalExecutor(root: Self.root, sandbox: Sandbox(kind: .bubblewrap(network: network), nodeID: "sandbox-tests-\(getpid())"))
    }

    /// Runs `script`; returns its outcome and output.
    func run(_ script: String, network: Bool = true, limits: JobLimits = JobLimits(pids: 256),
             readOnly: [String] = []) async throws -> (ExecutionOutcome, String) {
        let executor = executor(network: network)
        let warnings = try await executor.prepare()
        #expect(!warnings.contains { $0.contains("cgroup") }, "this host has writable cgroups: \(warnings)")
        let output = OutputBuffer()
        let job = ExecutionJob(id: Int64.random(in: 1...1_000_000), attempt: 1, script: script, readOnlyPaths: readOnly, limits: limits)
        let outcome = try await executor.run(job, started: {}, output: output.append)
        return (outcome, output.text)
    }

    @Test func runsAsAnUnprivilegedBuildUid() async throws {
        let (outcome, text) = try await run("id -u; id -g; whoami; echo HOME=$HOME; touch $HOME/made && echo writable-home")
        #expect(outcome == .exited(0), "\(text)")
        let lines = text.split(separator: "\n").map(String.init)
        let uid = Int(lines.first ?? "") ?? 0
        #expect((59001...59064).contains(uid), "\(text)")
        #expect(lines.dropFirst().first == String(uid))
        #expect(lines.contains("conveyor-build"))
        #expect(lines.contains("writable-home"))
    }

    @Test func cannotReadNodeSecrets() async throws {
        // A root-only file where deploy/ puts the node's env files, and one elsewhere under /etc.
        let hidden = "/etc/conveyor/sandbox-test-\(getpid()).env"
        let visible = "/etc/conveyor-sandbox-test-\(getpid()).env"
        try FileManager.default.createDirectory(atPath: "/etc/conveyor", withIntermediateDirectories: true)
        for file in [hidden, visible] {
            try "CONVEYOR_POSTGRES_URL=postgres://conveyor:hunter2@db/conveyor\n".write(toFile: file, atomically: false, encoding: .utf8)
            chmod(file, 0o600)
        }
        defer { unlink(hidden); unlink(visible) }
        let (outcome, text) = try await run("""
            ls -A /etc/conveyor | wc -l | sed 's/^/conveyor-dir-entries=/'
            cat \(visible) 2>/dev/null && echo READ-ROOT-FILE
            cat /proc/1/environ 2>/dev/null | tr '\\0' '\\n' | grep -c CONVEYOR_POSTGRES && echo READ-PID1-ENV
            grep -l hunter2 /proc/*/environ 2>/dev/null && echo FOUND-IN-PROC
            ls -A \(Self.root) | grep -v -x "$(basename "$(dirname "$HOME")")" && echo OTHER-JOB-DIRECTORY
            ls -A "$(dirname "$HOME")" | grep -v -x home && echo BOX-FILES-VISIBLE
            env | grep -i -E 'redis|postgres|api_token|webhook' && echo NODE-ENV
            for f in /usr/x /etc/x /opt/x /var/x; do touch "$f" 2>/dev/null && echo "WROTE-OUTSIDE $f"; done
            touch "$(dirname "$HOME")/x" \(Self.root)/x 2>/dev/null

            echo done
            """)
        #expect(outcome == .exited(0), "\(text)")
        #expect(text.contains("conveyor-dir-entries=0"), "\(text)")
        for leak in ["hunter2", "READ-ROOT-FILE", "READ-PID1-ENV", "FOUND-IN-PROC", "OTHER-JOB-DIRECTORY", "BOX-FILES-VISIBLE", "NODE-ENV", "WROTE-OUTSIDE"] {
            #expect(!text.contains(leak), "\(leak): \(text)")
        }
        #expect(text.contains("done"))
        // The parents of the job's home inside the sandbox are its own (a private /tmp here): the host's stay untouched.
        #expect(!FileManager.default.fileExists(atPath: Self.root + "/x"))
    }

    @Test func networkReachesNeitherHostLoopbackNorOwnAddresses() async throws {
        let redis = try #require(URL(string: TestEnvironment.redisURL)?.port)
        let postgres = try #require(URL(string: TestEnvironment.postgresURL)?.port)
        // A listener on this host's own non-loopback address, which slirp4netns could otherwise reach.
        let own = Self.ownAddress()
        let listener = own.map { TCPListener(address: $0) }
        defer { listener?.close() }
        let probe = { (host: String, port: Int) in
            "timeout 8 bash -c 'exec 3<>/dev/tcp/\(host)/\(port)' 2>/dev/null && echo REACHED-\(host)-\(port) || echo blocked-\(host)-\(port)"
        }
        var lines = [probe("127.0.0.1", redis), probe("127.0.0.1", postgres), probe("10.0.2.2", redis), probe("10.0.2.2", postgres)]
        if let own, let port = listener?.port { lines.append(probe(own, port)) }
        lines.append(#"python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 5432)); s.listen(); c=socket.create_connection(("127.0.0.1", 5432)); print("own-5432-ok")'"#)
        let (outcome, text) = try await run(lines.joined(separator: "\n"))
        #expect(outcome == .exited(0), "\(text)")
        #expect(!text.contains("REACHED"), "\(text)")
        #expect(text.contains("blocked-127.0.0.1-\(redis)") && text.contains("blocked-10.0.2.2-\(postgres)"), "\(text)")
        if let own, let port = listener?.port { #expect(text.contains("blocked-\(own)-\(port)"), "\(text)") }
        #expect(text.contains("own-5432-ok"), "\(text)")
    }

    @Test func noNetworkMeansOnlyLoopback() async throws {
        let (outcome, text) = try await run("""
            grep -c tap0 /proc/net/dev || true
            python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 5432)); s.listen(); print("loopback-ok")'
            """, network: false)
        #expect(outcome == .exited(0), "\(text)")
        #expect(text.hasPrefix("0\n") && text.contains("loopback-ok"), "\(text)")
    }

    @Test func processLimitFailsTheJob() async throws {
        // Bounded: at most 300 sleeps, each ending by itself within 30 s.
        let (outcome, text) = try await run("for i in $(seq 1 300); do sleep 30 & done 2>/dev/null; echo started; wait", limits: JobLimits(pids: 40))
        #expect(outcome == .limitExceeded(.pids(40)), "\(text)")
        #expect(ExecutionOutcome.limitExceeded(.pids(40)).exitDescription == "exceeded its process limit of 40 processes")
    }

    @Test func memoryLimitFailsTheJob() async throws {
        // 64 MiB allowed, 512 MiB asked for; the kernel kills the job long before.
        let (outcome, text) = try await run(#"python3 -c 'b = bytearray(512 << 20); print("allocated", len(b))'; echo after"#,
                                            limits: JobLimits(memoryBytes: 64 << 20, pids: 64))
        #expect(outcome == .limitExceeded(.memory(64 << 20)), "\(text)")
        #expect(!text.contains("allocated 536870912"), "\(text)")
    }

    @Test func diskLimitFailsTheJob() async throws {
        let (outcome, text) = try await run("head -c 100M /dev/zero > big || echo write-failed; ls -A", limits: JobLimits(pids: 64, diskBytes: 32 << 20))
        #expect(outcome == .limitExceeded(.disk(32 << 20)), "\(text)")
        #expect(text.contains("write-failed"), "\(text)")
        #expect(!text.contains("could not be applied"), "\(text)")
    }

    @Test func nothingOutlivesTheJob() async throws {
        let marker = "conveyor-daemon-\(UInt32.random(in: 0...UInt32.max))"
        let (outcome, text) = try await run("""
            setsid nohup bash -c 'exec -a \(marker) sleep 300' >/dev/null 2>&1 &
            (trap '' HUP TERM; exec -a \(marker) sleep 300) >/dev/null 2>&1 &
            disown -a; sleep 0.2; echo left-daemons
            """)
        #expect(outcome == .exited(0), "\(text)")
        let survivors = try FileManager.default.contentsOfDirectory(atPath: "/proc").filter { entry in
            guard Int(entry) != nil, let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return false }
            return String(decoding: cmdline, as: UTF8.self).contains(marker)
        }
        #expect(survivors.isEmpty, "processes left behind: \(survivors)")
        let boxes = (try? FileManager.default.contentsOfDirectory(atPath: Self.root)) ?? []
        #expect(boxes.filter { $0.hasPrefix("job-") }.isEmpty, "job directories left: \(boxes)")
    }

    @Test func clonesALocalRepositoryOfAnotherOwner() async throws {
        let repo = GitFixture.shared
        let (outcome, text) = try await run("git clone -q file://\(repo.path) src && cat src/README", readOnly: [repo.path])
        #expect(outcome == .exited(0), "\(text)")
        #expect(text.contains("hello from the fixture"))
    }

    /// This host's first non-loopback IPv4 address.
    static func ownAddress() -> String? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return nil }
        defer { freeifaddrs(list) }
        var cursor = list
        while let entry = cursor {
            defer { cursor = entry.pointee.ifa_next }
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET) else { continue }
            var host = [CChar](repeating: 0, count: 64)
            getnameinfo(address, socklen_t(MemoryLayout<sockaddr_in>.size), &host, socklen_t(host.count), nil, 0, NI_NUMERICHOST)
            let text = String(cString: host)
            if !text.hasPrefix("127.") { return text }
        }
        return nil
    }
}

/// A TCP listener that accepts nothing (the kernel completes handshakes into its backlog).
final class TCPListener: Sendable {
    let fd: Int32
    let port: Int

    init(address: String) {
        let socketFD = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        inet_pton(AF_INET, address, &addr.sin_addr)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socketFD, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        listen(socketFD, 16)
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketFD, $0, &length) } }
        fd = socketFD
        port = Int(UInt16(bigEndian: bound.sin_port))
    }

    func close() { _ = Glibc.close(fd) }
}

/// A repository's own limit, through the worker: the job ends failed with a line naming the limit.
@Suite("Sandbox: repository limits through the worker")
struct RepositoryLimitTests {
    @Test func repositoryProcessLimitFailsTheJob() async throws {
        let h = try await WorkerHarness.make { $0.sandbox = "bwrap"; $0.sandboxNetwork = false }
        // Bounded: 200 sleeps of 20 s at most.
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["for i in $(seq 1 200); do sleep 20 & done 2>/dev/null; wait"]]))
        try await h.context.postgres.query("UPDATE repositories SET job_pids_limit = 30, job_memory_limit = '1G' WHERE id = (SELECT repository_id FROM jobs WHERE id = $1)", job)
        try await h.enqueue(job)
        let end = try await h.withWorker { try await h.waitForEnd(job) }
        let log = try await h.log(job)
        #expect(end.result == .failed, "\(log)")
        #expect(end.reason == "pids_limit")
        #expect(log.contains("The job exceeded its process limit of 30 processes"), "\(log)")
        #expect(log.contains("limits: memory 1 GiB, 30 processes"), "\(log)")
    }
}
