import ConveyorCore
import ConveyorModel
import ConveyorTesting
import ConveyorWorker
import Foundation
import Testing

/// Real build scripts through the local executor, against real Redis and Postgres.
@Suite("Worker: scripts through the local executor")
struct LocalExecutionTests {
    @Test func passingScript() async throws {
        let h = try await WorkerHarness.make()
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["cat README", "echo all good"]]))
        try await h.enqueue(job)
        let end = try await h.withWorker { try await h.waitForEnd(job) }
        #expect(end.kind == .finished)
        #expect(end.result == .passed)
        let states = try await h.states(job)
        #expect(states.map(\.kind) == [.received, .started, .finished])
        #expect(states.map(\.seq) == [1, 2, 3])
        #expect(end.receivedAt != nil && end.startedAt != nil)
        let log = try await h.log(job)
        #expect(log.contains("hello from the fixture"), "\(log)")
        #expect(log.contains("all good"))
        #expect(log.contains("Done. Your build exited with 0."))
        let parts = try await h.parts(job)
        #expect(parts.map(\.number) == Array(0..<parts.count))
        #expect(parts.filter(\.final).map(\.number) == [parts.count - 1])
        #expect(try await h.pendingCount() == 0)
    }

    @Test func failingScriptFails() async throws {
        let h = try await WorkerHarness.make()
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["false", "echo still runs"]]))
        try await h.enqueue(job)
        let end = try await h.withWorker { try await h.waitForEnd(job) }
        #expect(end.result == .failed)
        #expect(try await h.log(job).contains("still runs"))
    }

    @Test func failingInstallErrors() async throws {
        let h = try await WorkerHarness.make()
        let job = try await h.insertJob(WorkerHarness.spec([.install: ["exit 3"], .script: ["echo never"]]))
        try await h.enqueue(job)
        let end = try await h.withWorker { try await h.waitForEnd(job) }
        #expect(end.result == .errored)
        let log = try await h.log(job)
        #expect(!log.contains("\nnever"))
        #expect(try await h.pendingCount() == 0)
    }

    @Test func secretsAreMasked() async throws {
        let h = try await WorkerHarness.make()
        let spec = WorkerHarness.spec([.script: [#"echo "the secret is $TOKEN""#]],
                                      env: [EnvVar(name: "TOKEN", value: "hunter2-very-secret", secure: true)])
        let job = try await h.insertJob(spec)
        try await h.enqueue(job)
        let end = try await h.withWorker { try await h.waitForEnd(job) }
        #expect(end.result == .passed)
        let log = try await h.log(job)
        #expect(log.contains("the secret is [secure]"), "\(log)")
        #expect(!log.contains("hunter2-very-secret"))
    }

    @Test func megabyteOfOutputKeepsItsOrder() async throws {
        let h = try await WorkerHarness.make()
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["seq 1 170000"]]))
        try await h.enqueue(job)
        let end = try await h.withWorker { try await h.waitForEnd(job) }
        #expect(end.result == .passed)
        let expected = (1...170_000).map(String.init).joined(separator: "\n") + "\n"
        #expect(expected.utf8.count > 1_000_000)
        let log = try await h.log(job)
        #expect(log.contains(expected), "log of \(log.utf8.count) bytes does not hold the sequence in order")
        let parts = try await h.parts(job)
        #expect(parts.map(\.number) == Array(0..<parts.count))
        #expect(parts.allSatisfy { $0.content.count <= h.context.settings.logFlushBytes })
    }

    @Test func sandboxedWithBubblewrap() async throws {
        let h = try await WorkerHarness.make { $0.sandbox = "bwrap"; $0.sandboxNetwork = false }
        let job = try await h.insertJob(WorkerHarness.spec([.script: [
            "cat README", "echo pid=$$", "test ! -e /root/.bashrc || test ! -r /root", "touch /usr/forbidden 2>/dev/null && exit 1 || echo readonly-usr",
        ]]))
        try await h.enqueue(job)
        let end = try await h.withWorker { try await h.waitForEnd(job) }
        let log = try await h.log(job)
        #expect(end.result == .passed, "\(log)")
        #expect(log.contains("hello from the fixture"))
        #expect(log.contains("readonly-usr"))
    }
}
