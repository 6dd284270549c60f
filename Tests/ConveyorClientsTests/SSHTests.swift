import ConveyorSSH
import ConveyorTesting
import Foundation
import Testing

@Suite("SSH against the loopback sshd")
struct SSHTests {
    static func target(knownHosts: String? = nil, key: String? = nil) throws -> SSHTarget {
        SSHTarget(
            host: try TestServers.require("CONVEYOR_TEST_SSH_HOST"),
            port: Int(try TestServers.require("CONVEYOR_TEST_SSH_PORT")) ?? 22,
            user: try TestServers.require("CONVEYOR_TEST_SSH_USER"),
            privateKeyPath: try key ?? TestServers.require("CONVEYOR_TEST_SSH_KEY"),
            knownHostsPath: try knownHosts ?? TestServers.require("CONVEYOR_TEST_SSH_KNOWN_HOSTS"),
            connectTimeout: .seconds(5),
            operationTimeout: .seconds(20))
    }

    @discardableResult
    static func withSession<T>(_ body: (SSHSession) async throws -> T) async throws -> T {
        let target = try target()
        let session = try await TestServers.reaching("sshd") { try await SSHSession.connect(target) }
        do {
            let result = try await body(session)
            await session.close()
            return result
        } catch {
            await session.close()
            throw error
        }
    }

    static func collect(_ out: Collected) -> @Sendable (SSHOutputStream, [UInt8]) -> Void {
        { stream, bytes in out.append(stream == .stdout ? "out" : "err", bytes) }
    }

    @Test func exitStatusAndBothStreams() async throws {
        try await Self.withSession { session in
            let out = Collected()
            let run = try await session.run("echo to-out; echo to-err >&2; exit 3", onOutput: Self.collect(out))
            #expect(try await run.wait() == 3)
            #expect(out.text("out") == "to-out\n")
            #expect(out.text("err") == "to-err\n")
        }
    }

    @Test func uploadThenRun() async throws {
        try await Self.withSession { session in
            let path = "/tmp/conveyor-test-\(UUID().uuidString).sh"
            let script = "#!/bin/sh\necho \"uploaded ünïcode $1\"\n"
            try await session.upload(Array(script.utf8), to: path)
            let out = Collected()
            let run = try await session.run("\(path) ok; rm -f \(path)", onOutput: Self.collect(out))
            #expect(try await run.wait() == 0)
            #expect(out.text("out") == "uploaded ünïcode ok\n")
        }
    }

    @Test func uploadToMissingDirectoryFails() async throws {
        try await Self.withSession { session in
            await #expect(throws: SSHError.self) {
                try await session.upload([1, 2, 3], to: "/nonexistent-dir/x")
            }
        }
    }

    @Test func unknownHostKeyIsRejected() async throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("empty-known-hosts-\(UUID())")
        try Data().write(to: empty)
        defer { try? FileManager.default.removeItem(at: empty) }
        do {
            let session = try await SSHSession.connect(try Self.target(knownHosts: empty.path))
            await session.close()
            Issue.record("connected although the host key is unknown")
        } catch let error as SSHError {
            #expect(error.message.contains("unknown"), "\(error)")
        }
    }

    @Test func wrongKeyIsRejected() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wrong-key-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = dir.appendingPathComponent("id_ed25519").path
        let keygen = try Process.run(URL(fileURLWithPath: "/usr/bin/ssh-keygen"),
                                     arguments: ["-q", "-t", "ed25519", "-N", "", "-f", key])
        keygen.waitUntilExit()
        do {
            let session = try await SSHSession.connect(try Self.target(key: key))
            await session.close()
            Issue.record("authenticated with a key that is not authorized")
        } catch let error as SSHError {
            #expect(error.message.contains("authentication"), "\(error)")
        }
    }

    @Test func aServerThatNeverSpeaksTimesOut() async throws {
        // Accepts TCP (in the kernel backlog) but never sends an SSH banner.
        let silent = try LocalHTTPReceiver.start(silent: true)
        defer { silent.stop() }
        var target = try Self.target()
        target.port = silent.port
        target.connectTimeout = .milliseconds(500)
        let begin = ContinuousClock.now
        do {
            let session = try await SSHSession.connect(target)
            await session.close()
            Issue.record("connected to a server that never speaks")
        } catch let error as SSHError {
            #expect(error.message.contains("timed out"), "\(error)")
        }
        #expect(ContinuousClock.now - begin < .seconds(15))
    }

    @Test func terminateStopsTheProcessGroup() async throws {
        try await Self.withSession { session in
            let out = Collected()
            // A unique duration tells our sleep apart from other tests' on this machine.
            let sleep = "sleep 30.\(Int.random(in: 10_000...99_999))"
            let run = try await session.run("echo started; \(sleep) & wait", onOutput: Self.collect(out))
            let begin = ContinuousClock.now
            while out.text("out").isEmpty && ContinuousClock.now - begin < .seconds(5) {
                try await Task.sleep(for: .milliseconds(20))
            }
            await run.terminate()
            let status = try await run.wait()
            // Well short of the 30 s sleep: the process group was stopped, not waited out.
            #expect(ContinuousClock.now - begin < .seconds(20))
            #expect(status != 0)
            let (_, left, _) = try await session.execute("pgrep -x -f '\(sleep)' || true")
            #expect(left.isEmpty, "sleep survived: \(left)")
        }
    }

    @Test func oneMegabyteArrivesCompleteAndOrdered() async throws {
        try await Self.withSession { session in
            let out = Collected()
            let run = try await session.run("seq 1 200000", onOutput: Self.collect(out))
            #expect(try await run.wait() == 0)
            let expected = (1...200_000).map(String.init).joined(separator: "\n") + "\n"
            #expect(out.count("out") > 1_000_000)
            #expect(out.text("out") == expected)
        }
    }

    @Test func concurrentRunsShareASession() async throws {
        try await Self.withSession { session in
            let a = Collected(), b = Collected()
            let first = try await session.run("sleep 0.3; echo first", onOutput: Self.collect(a))
            let second = try await session.run("echo second", onOutput: Self.collect(b))
            #expect(try await second.wait() == 0)
            #expect(try await first.wait() == 0)
            #expect(a.text("out") == "first\n" && b.text("out") == "second\n")
        }
    }
}
