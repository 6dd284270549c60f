import ConveyorCore
import ConveyorModel
import ConveyorSSH
import ConveyorTesting
import ConveyorVirt
@testable import ConveyorWorker
import Foundation
import Synchronization
import Testing

/// The ssh executor against the loopback sshd of `scripts/test-servers.sh`.
@Suite("Worker: ssh executor")
struct SSHExecutorTests {
    static func target() throws -> SSHTarget {
        func require(_ name: String) throws -> String {
            guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
                throw TestSetupError("\(name) is not set: run `scripts/test-servers.sh start` and `eval \"$(scripts/test-servers.sh env)\"` before `swift test`")
            }
            return value
        }
        return SSHTarget(host: try require("CONVEYOR_TEST_SSH_HOST"), port: Int(try require("CONVEYOR_TEST_SSH_PORT")) ?? 22,
                         user: try require("CONVEYOR_TEST_SSH_USER"), privateKeyPath: try require("CONVEYOR_TEST_SSH_KEY"),
                         knownHostsPath: try require("CONVEYOR_TEST_SSH_KNOWN_HOSTS"), connectTimeout: .seconds(10))
    }

    @Test func passingJobOverSSH() async throws {
        let executor = SSHExecutor(target: try Self.target())
        let h = try await WorkerHarness.make()
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["cat README", "echo to-stderr >&2", "echo on $CONVEYOR_JOB_ID"]]))
        try await h.enqueue(job)
        let end = try await h.withWorker(executor: executor) { try await h.waitForEnd(job) }
        let log = try await h.log(job)
        #expect(end.result == .passed, "\(log)")
        #expect(log.contains("hello from the fixture"))
        #expect(log.contains("to-stderr\n"))
        #expect(log.contains("on \(job)"))
        #expect(try await h.states(job).map(\.kind) == [.received, .started, .finished])
    }

    @Test func cancelOverSSH() async throws {
        let executor = SSHExecutor(target: try Self.target())
        let h = try await WorkerHarness.make()
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["echo remote-running", "sleep 120"]]))
        try await h.enqueue(job)
        let end = try await h.withWorker(executor: executor) {
            #expect(try await eventually(timeout: .seconds(60)) { try await h.log(job).contains("remote-running") })
            try await h.cancel(job)
            return try await h.waitForEnd(job)
        }
        #expect(end.result == .canceled)
        #expect(try await h.log(job).hasSuffix("Done: Job Cancelled\n"))
    }

    @Test func unreachableHostResetsTheJob() async throws {
        var target = try Self.target()
        target.port = 1
        let h = try await WorkerHarness.make()
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["true"]]))
        try await h.enqueue(job)
        let end = try await h.withWorker(executor: SSHExecutor(target: target)) { try await h.waitForEnd(job) }
        #expect(end.kind == .reset)
        #expect(end.reason == "ssh_unreachable")
        #expect(try await h.pendingCount() == 0)
    }
}

/// The libvirt lifecycle on libvirt's built-in test driver. Its domain "test" can't be reached over
/// SSH, so the step that would run the script there is injected.
@Suite("Worker: libvirt executor on test:///default", .serialized)
struct LibvirtExecutorTests {
    static let uri = "test:///default"

    /// Shuts the domain off and snapshots it, so each job must start it.
    static func withCleanSnapshot(_ name: String, _ body: () async throws -> Void) async throws {
        let virt = try await VirtConnection.open(uri: uri)
        if try await virt.state(of: "test") == .running { try await virt.destroy("test") }
        try await virt.createSnapshot("test", name: name)
        do {
            try await body()
        } catch {
            try? await virt.deleteSnapshot("test", name: name)
            await virt.close()
            throw error
        }
        try? await virt.deleteSnapshot("test", name: name)
        if try await virt.state(of: "test") != .running { try await virt.start("test") }
        await virt.close()
    }

    @Test func lifecycle() async throws {
        try await Self.withCleanSnapshot("clean-worker") {
            let steps = Steps()
            let executor = LibvirtExecutor(uri: Self.uri, domains: ["test"], snapshot: "clean-worker", step: { domain, job, started, output in
                let virt = try await VirtConnection.open(uri: Self.uri)
                let state = try await virt.state(of: domain)
                await virt.close()
                await started()
                output(Array("inside \(domain), which is \(state)\n".utf8))
                return .exited(0)
            }, observe: steps.append)
            let h = try await WorkerHarness.make()
            let job = try await h.insertJob(WorkerHarness.spec([.script: ["true"]]))
            try await h.enqueue(job)
            let end = try await h.withWorker(executor: executor) { try await h.waitForEnd(job) }
            #expect(end.result == .passed)
            #expect(try await h.log(job).contains("inside test, which is running"))
            #expect(steps.all == ["revert test", "start test", "run test", "poweroff test", "revert test"])
            let virt = try await VirtConnection.open(uri: Self.uri)
            #expect(try await virt.state(of: "test") == .shutoff)
            await virt.close()
        }
    }

    @Test func lostVMResetsTheJob() async throws {
        try await Self.withCleanSnapshot("clean-lost") {
            let executor = LibvirtExecutor(uri: Self.uri, domains: ["test"], snapshot: "clean-lost") { domain, _, started, _ in
                await started()
                let virt = try await VirtConnection.open(uri: Self.uri)
                try await virt.destroy(domain)
                await virt.close()
                throw ExecutorError(reason: "ssh_lost", "connection reset")
            }
            let h = try await WorkerHarness.make()
            let job = try await h.insertJob(WorkerHarness.spec([.script: ["true"]]))
            try await h.enqueue(job)
            let end = try await h.withWorker(executor: executor) { try await h.waitForEnd(job) }
            #expect(end.kind == .reset)
            #expect(end.reason == "vm_lost")
        }
    }
}

/// Lifecycle steps recorded from any thread.
final class Steps: Sendable {
    private let steps = Mutex<[String]>([])

    @Sendable func append(_ step: String) {
        steps.withLock { $0.append(step) }
    }

    var all: [String] { steps.withLock { $0 } }
}

/// The ssh executor's confinement: the build user, and nothing left behind on the build host (the
/// test sshd runs on this host, so its processes are visible here).
@Suite("Worker: ssh executor confinement")
struct SSHConfinementTests {
    @Test func runsAsTheBuildUserAndLeavesNothingBehind() async throws {
        let executor = SSHExecutor(target: try SSHExecutorTests.target(), buildUser: "nobody")
        let marker = "conveyor-ssh-daemon-\(UInt32.random(in: 0...UInt32.max))"
        let h = try await WorkerHarness.make()
        let job = try await h.insertJob(WorkerHarness.spec([.script: [
            "cat README", "echo user=$(id -un) home=$HOME",
            "setsid nohup bash -c 'exec -a \(marker) sleep 300' >/dev/null 2>&1 &", "(exec -a \(marker) sleep 300) >/dev/null 2>&1 & disown",
            "sleep 0.3", "echo left-a-daemon",
        ]]))
        try await h.enqueue(job)
        let end = try await h.withWorker(executor: executor) { try await h.waitForEnd(job) }
        let log = try await h.log(job)
        #expect(end.result == .passed, "\(log)")
        #expect(log.contains("hello from the fixture"))
        #expect(log.contains("user=nobody home=/tmp/conveyor-"), "\(log)")
        #expect(log.contains("left-a-daemon"))
        let survivors = try await eventually(timeout: .seconds(10)) {
            try FileManager.default.contentsOfDirectory(atPath: "/proc").allSatisfy { entry in
                guard Int(entry) != nil, let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return true }
                return !String(decoding: cmdline, as: UTF8.self).contains(marker)
            }
        }
        #expect(survivors, "a process of the job outlived it on the build host")
    }

    @Test func commandConfinesTheScript() throws {
        let job = ExecutionJob(id: 7, attempt: 1, script: "true")
        let command = try SSHExecutor.command(job, directory: "/tmp/d", buildUser: "builder", confine: true)
        #expect(command.contains("exec runuser -u 'builder' -- unshare --user --map-current-user --pid --fork --kill-child --mount-proc -- env HOME='/tmp/d' /bin/bash build.sh 2>&1"), "\(command)")
        #expect(command.contains("export HOME='/tmp/d'"))
        #expect(try SSHExecutor.command(job, directory: "/tmp/d").hasSuffix("exec /bin/bash build.sh 2>&1"))
    }
}
