import ConveyorThreads
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Event loops, and a group installed as Swift's global executor in a child process (exit test: the
/// hook is process-wide). Real nodes install it too: `scripts/test-ops.sh` and the chaos runs start
/// `conveyor node`, and ops restarts one node with `event_loop_threads: 0`.
@Suite("Event loops")
struct EventLoopTests {
    /// A task that prefers a loop runs on the loop's thread, before and after a suspension.
    @Test func aTaskPreferringALoopRunsOnItsThread() async throws {
        let loop = EventLoop(name: "test-loop")
        let (before, after) = await withTaskExecutorPreference(loop) { () async -> (Bool, Bool) in
            let before = loop.inLoop && EventLoop.current === loop
            try? await Task.sleep(for: .milliseconds(5))
            await Task.yield()
            return (before, loop.inLoop && EventLoop.current === loop)
        }
        #expect(before && after)
        #expect(!loop.inLoop && EventLoop.current == nil)
        await loop.stop()
    }

    /// A watched pipe reports on the loop's thread each time data arrives (edge-triggered: one
    /// report per write, none while nothing new comes), and no more once unregistered.
    @Test func aWatchedDescriptorReportsEachArrival() async throws {
        let loop = EventLoop(name: "test-watch")
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        defer { close(ends[0]); close(ends[1]) }
        _ = fcntl(ends[0], F_SETFL, fcntl(ends[0], F_GETFL) | O_NONBLOCK)
        let watcher = PipeReader(fd: ends[0], loop: loop)
        let token = loop.register(watcher)
        #expect(loop.watch(ends[0], token: token, writable: false, add: true))
        for byte in [UInt8(1), 2, 3] {
            var value = byte
            #expect(write(ends[1], &value, 1) == 1)
            try await watcher.waitFor(count: Int(byte))
        }
        #expect(watcher.bytes == [1, 2, 3])
        #expect(watcher.reportsOffLoop == 0)

        // Watching again (modify) while nothing is unread reports nothing new.
        #expect(loop.watch(ends[0], token: token, writable: false, add: false))
        try await Task.sleep(for: .milliseconds(50))
        #expect(watcher.bytes == [1, 2, 3])

        loop.unregister(token)
        var value: UInt8 = 4
        #expect(write(ends[1], &value, 1) == 1)
        try await Task.sleep(for: .milliseconds(50))
        #expect(watcher.bytes == [1, 2, 3])
        await loop.stop()
    }

    /// After `stop()` a task that still prefers the loop goes on elsewhere instead of hanging.
    @Test func aStoppedLoopHandsItsJobsOn() async throws {
        let loop = EventLoop(name: "test-stop")
        let finished = await withTaskExecutorPreference(loop) { () async -> Bool in
            await loop.stop()
            try? await Task.sleep(for: .milliseconds(1))
            return !loop.inLoop
        }
        #expect(finished)
    }

    /// Installed as Swift's global executor (in a child process: the hook is process-wide), the
    /// group runs tasks that have no executor of their own, also after a sleep; tasks started from
    /// one loop's thread queue there, and when more pile up than it is worth waiting for, the idle
    /// sibling takes some: every task runs exactly once, on both threads.
    @Test func installedAsTheGlobalExecutorTheGroupRunsTasksAndSharesWork() async {
        await #expect(processExitsWith: .success) {
            guard let group = EventLoopGroup.installAsGlobalExecutor(threads: 2) else { exit(2) }
            guard EventLoopGroup.global === group, EventLoopGroup.runsGlobalJobs else { exit(3) }
            await resumedFromAnotherThread()  // the task's next step is a global job: it runs on a loop
            guard let home = EventLoop.current, home.group === group else { exit(4) }
            let ran = Tally()
            await withTaskGroup(of: Void.self) { tasks in
                for _ in 0..<200 {
                    tasks.addTask {
                        // Busy for a moment, so the queue grows while the loop works.
                        let until = ContinuousClock.now + .microseconds(200)
                        while ContinuousClock.now < until {}
                        ran.add(EventLoop.current?.name ?? "elsewhere")
                    }
                }
            }
            let counts = ran.counts
            guard counts.values.reduce(0, +) == 200, counts["elsewhere"] == nil else { exit(5) }
            guard counts.count == 2 else { exit(6) }
            // Calls of nonisolated async functions that do not suspend stay in place: no job each
            // (a global job run as the loop's own would be moved by the runtime at every call).
            await resumedFromAnotherThread()
            guard let loop = EventLoop.current else { exit(9) }
            let before = loop.jobsRun
            var sum = 0
            for i in 0..<1_000 { sum += await identity(i) }
            guard sum == 499_500, EventLoop.current === loop, loop.jobsRun - before < 10 else { exit(10) }
            // A sleeping task wakes on Dispatch's pool (delayed jobs bypass the hook) and comes
            // back at its next global job.
            try? await Task.sleep(for: .milliseconds(5))
            await resumedFromAnotherThread()
            guard EventLoop.current?.group === group else { exit(7) }
            // Routed back to Dispatch's pool, new jobs run there.
            EventLoopGroup.runsGlobalJobs = false
            await resumedFromAnotherThread()
            guard EventLoop.current == nil else { exit(8) }
        }
    }

    /// `next()` keeps a caller on its own loop and spreads callers from other threads.
    @Test func nextStaysOnTheCallersLoopAndSpreadsOthers() async {
        let group = EventLoopGroup(threads: 3, name: "test-next")
        let picked = (0..<6).map { _ in group.next() }
        #expect(Set(picked.map(\.name)).count == 3)
        let second = group.loops[1]
        let stays = await withTaskExecutorPreference(second) { () async -> Bool in
            (0..<5).allSatisfy { _ in group.next() === second }
        }
        #expect(stays)
        #expect(EventLoopGroup.global == nil, "only child processes install a global executor")
    }
}

/// Suspends until another thread resumes the task: its next step is enqueued as a global job
/// (`swift_task_enqueueGlobal`, which the installed hook routes). `Task.yield()` would not do:
/// since Swift 6.2 it enqueues on `Task.currentExecutor`, which bypasses the hook. The other
/// thread waits a moment first: a continuation resumed before its task has finished suspending
/// lets the task go on in place, with no job at all.
private func resumedFromAnotherThread() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        Thread.detachNewThread {
            usleep(20_000)
            continuation.resume()
        }
    }
}

/// A nonisolated async function that never suspends.
private func identity(_ value: Int) async -> Int { value }

/// Counts, by loop name, where tasks ran.
private final class Tally: Sendable {
    private let byName = Mutex<[String: Int]>([:])

    func add(_ name: String) {
        byName.withLock { $0[name, default: 0] += 1 }
    }

    var counts: [String: Int] { byName.withLock { $0 } }
}

/// Reads a pipe when its loop reports it, recording each byte.
private final class PipeReader: EventLoopWatcher, @unchecked Sendable {
    // @unchecked Sendable: `received` and `offLoop` are only touched with `lock` held.
    let fd: Int32
    let loop: EventLoop
    private let lock = NSLock()
    private var received: [UInt8] = []
    private var offLoop = 0

    init(fd: Int32, loop: EventLoop) {
        self.fd = fd
        self.loop = loop
    }

    func ready(_ events: UInt32) {
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = read(fd, &buffer, buffer.count)
        let onLoop = loop.inLoop
        lock.withLock {
            if n > 0 { received += buffer[0..<n] }
            if !onLoop { offLoop += 1 }
        }
    }

    var bytes: [UInt8] { lock.withLock { received } }
    var reportsOffLoop: Int { lock.withLock { offLoop } }

    func waitFor(count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while bytes.count < count {
            guard ContinuousClock.now < deadline else {
                Issue.record("the loop reported \(bytes.count) bytes of \(count)")
                return
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}
