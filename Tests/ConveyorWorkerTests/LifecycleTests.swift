import ConveyorCore
import ConveyorModel
import ConveyorRedis
import ConveyorTesting
import ConveyorWorker
import Foundation
import Logging
import ServiceLifecycle
import Testing

/// Restart, drain and lease loss: no job is left silently stuck, and a lost attempt is let go quietly.
@Suite("Worker: restart, drain, leases")
struct LifecycleTests {
    @Test func pendingEntriesOfAPreviousLifeAreReset() async throws {
        let h = try await WorkerHarness.make()
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["true"]]))
        let stream = h.context.keys.queue(h.queue)
        try await h.context.redis.ensureGroup(stream, group: Groups.workers)
        try await h.enqueue(job)
        // The previous life of this node claimed it, then died.
        let claimed = try await h.context.redis.xreadgroup(group: Groups.workers, consumer: h.context.settings.nodeID,
                                                           streams: [stream], count: 10)
        #expect(claimed.first?.entries.count == 1)
        let end = try await h.withWorker {
            let end = try await h.waitForEnd(job)
            #expect(try await eventually { try await h.pendingCount() == 0 })
            return end
        }
        #expect(end.kind == .reset)
        #expect(end.reason == "worker_restarted")
        #expect(end.attempt == 1)
    }

    @Test func drainResetsWhatDoesNotFinishInTime() async throws {
        let h = try await WorkerHarness.make { $0.drainGraceSeconds = 1 }
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["echo long-job", "sleep 120"]]))
        try await h.enqueue(job)
        let group = ServiceGroup(services: [WorkerService(context: h.context)], logger: Logger(label: "test"))
        let run = Task { try await group.run() }
        #expect(try await eventually(timeout: .seconds(60)) { try await h.log(job).contains("long-job") })
        await group.triggerGracefulShutdown()
        let end = try await h.waitForEnd(job)
        try await run.value
        #expect(end.kind == .reset)
        #expect(end.reason == "worker_shutdown")
        #expect(try await h.parts(job).last?.final == true)
        #expect(try await h.pendingCount() == 0)
    }

    @Test func drainLetsShortJobsFinish() async throws {
        let h = try await WorkerHarness.make { $0.drainGraceSeconds = 60 }
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["echo short-job", "sleep 2", "echo finished-in-grace"]]))
        try await h.enqueue(job)
        let group = ServiceGroup(services: [WorkerService(context: h.context)], logger: Logger(label: "test"))
        let run = Task { try await group.run() }
        #expect(try await eventually(timeout: .seconds(60)) { try await h.log(job).contains("short-job") })
        await group.triggerGracefulShutdown()
        try await run.value
        let end = try await h.waitForEnd(job, timeout: .seconds(5))
        #expect(end.result == .passed)
        #expect(try await h.log(job).contains("finished-in-grace"))
    }

    @Test func lostLeaseStopsTheScriptSilently() async throws {
        let h = try await WorkerHarness.make()
        let pidFile = NSTemporaryDirectory() + "conveyor-lease-\(UUID().uuidString.prefix(8)).pid"
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["echo $$ > \(pidFile)", "echo holding", "sleep 120"]]))
        try await h.enqueue(job)
        try await h.withWorker {
            #expect(try await eventually(timeout: .seconds(60)) { try await h.log(job).contains("holding") })
            let pid = try #require(Int32(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            // The reaper took the slot away: the next renewal fails.
            try await h.context.redis.send(["ZREM", RedisArgument(h.context.keys.running(h.owner)), RedisArgument(job)])
            #expect(try await eventually(timeout: .seconds(30)) { kill(pid, 0) != 0 }, "the script still runs")
            try await Task.sleep(for: .seconds(1))
        }
        let kinds = try await h.states(job).map(\.kind)
        #expect(kinds == [.received, .started])
        #expect(try await h.parts(job).allSatisfy { !$0.final })
        #expect(try await h.pendingCount() == 1)
    }

    @Test func neverClaimsMoreThanItsSlots() async throws {
        let h = try await WorkerHarness.make { $0.workerSlots = 2 }
        var jobs: [Int64] = []
        for _ in 0..<4 {
            let job = try await h.insertJob(WorkerHarness.spec([.script: ["sleep 3"]]))
            try await h.enqueue(job)
            jobs.append(job)
        }
        try await h.withWorker {
            var maxPending = 0
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                maxPending = max(maxPending, try await h.pendingCount())
                var done = 0
                for job in jobs where try await h.states(job).contains(where: { $0.kind == .finished }) { done += 1 }
                if done == jobs.count { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(maxPending <= 2, "claimed \(maxPending) at once with 2 slots")
            for job in jobs { #expect(try await h.waitForEnd(job).result == .passed) }
        }
    }
}
