import ConveyorCore
import ConveyorModel
import ConveyorTesting
import ConveyorWorker
import Foundation
import Testing

/// Timeouts, the log limit and cancel: each ends the job with a clear line in the log.
@Suite("Worker: limits and cancel")
struct LimitTests {
    @Test func hardTimeout() async throws {
        let h = try await WorkerHarness.make()
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["while true; do echo tick; sleep 0.2; done"]]),
                                        limits: .init(hardTimeout: 3))
        try await h.enqueue(job)
        let end = try await h.withWorker { try await h.waitForEnd(job) }
        #expect(end.result == .errored)
        #expect(end.reason == "hard_timeout")
        let log = try await h.log(job)
        #expect(log.contains("The job exceeded the maximum time limit for jobs, and has been terminated"), "\(log)")
        #expect(try await h.parts(job).last?.final == true)
    }

    @Test func noOutputTimeout() async throws {
        let h = try await WorkerHarness.make()
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["echo before", "sleep 60"]]),
                                        limits: .init(hardTimeout: 120, noOutputTimeout: 2))
        try await h.enqueue(job)
        let end = try await h.withWorker { try await h.waitForEnd(job) }
        #expect(end.result == .errored)
        #expect(end.reason == "no_output_timeout")
        let log = try await h.log(job)
        #expect(log.contains("No output has been received in the last 2s"), "\(log)")
    }

    @Test func logLimitKeepsTheTail() async throws {
        let h = try await WorkerHarness.make()
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["seq 1 200000; echo TAIL-MARKER; sleep 60"]]),
                                        limits: .init(maxLogBytes: 100_000))
        try await h.enqueue(job)
        let end = try await h.withWorker { try await h.waitForEnd(job) }
        #expect(end.result == .errored)
        #expect(end.reason == "log_limit")
        let log = try await h.log(job)
        #expect(log.contains("The log length has exceeded the limit of 100000 bytes; the job was terminated."), "\(log.suffix(500))")
        #expect(log.contains("bytes of log omitted"))
        #expect(log.contains("1\n2\n3\n4\n"))
        #expect(!log.contains("\n100000\n"))
        // The tail is kept whole: after the omission line come consecutive lines of seq's output
        // (how far seq got before the job was stopped depends on timing).
        let tail = log.components(separatedBy: "bytes of log omitted").last ?? ""
        // The first and last lines may be cut mid-line; the rest must follow each other.
        let numbers = Array(tail.split(separator: "\n").compactMap { Int($0) }.dropFirst().dropLast())
        #expect(numbers.count > 1_000, "tail too short: \(numbers.count) lines")
        #expect(zip(numbers, numbers.dropFirst()).allSatisfy { $1 == $0 + 1 }, "tail lines are not consecutive")
        #expect(log.utf8.count < 100_000 + 2_000)
    }

    @Test func cancelMidRun() async throws {
        let h = try await WorkerHarness.make()
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["echo running-now", "sleep 120"]]))
        try await h.enqueue(job)
        let (end, elapsed) = try await h.withWorker {
            #expect(try await eventually(timeout: .seconds(60)) { try await h.log(job).contains("running-now") })
            let start = ContinuousClock.now
            try await h.cancel(job)
            let end = try await h.waitForEnd(job)
            return (end, ContinuousClock.now - start)
        }
        #expect(end.result == .canceled)
        #expect(elapsed < .seconds(15), "cancel took \(elapsed)")
        let log = try await h.log(job)
        #expect(log.hasSuffix("Done: Job Cancelled\n"), "\(log.suffix(300))")
        #expect(try await h.pendingCount() == 0)
    }

    @Test func canceledWhileQueuedIsNotRun() async throws {
        let h = try await WorkerHarness.make()
        let job = try await h.insertJob(WorkerHarness.spec([.script: ["echo should-not-run"]]))
        try await h.cancel(job)
        try await h.enqueue(job)
        let end = try await h.withWorker { try await h.waitForEnd(job) }
        #expect(end.kind == .finished)
        #expect(end.result == .canceled)
        #expect(try await h.states(job).map(\.kind) == [.finished])
        #expect(!(try await h.log(job).contains("should-not-run")))
        #expect(try await eventually { try await h.pendingCount() == 0 })
    }

    @Test func staleAttemptIsSkipped() async throws {
        let h = try await WorkerHarness.make()
        let stale = try await h.insertJob(WorkerHarness.spec([.script: ["echo stale"]]), attempt: 2)
        let finished = try await h.insertJob(WorkerHarness.spec([.script: ["true"]]), state: "passed")
        let fresh = try await h.insertJob(WorkerHarness.spec([.script: ["true"]]))
        try await h.enqueue(stale, attempt: 1)
        try await h.enqueue(finished)
        try await h.enqueue(fresh)
        let end = try await h.withWorker {
            let end = try await h.waitForEnd(fresh)
            #expect(try await eventually { try await h.pendingCount() == 0 })
            return end
        }
        #expect(end.result == .passed)
        #expect(try await h.states(stale).isEmpty)
        #expect(try await h.states(finished).isEmpty)
        #expect(try await h.parts(stale).isEmpty)
    }
}
