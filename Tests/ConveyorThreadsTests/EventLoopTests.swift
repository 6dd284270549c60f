import ConveyorThreads
import Foundation
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Event loops: tasks preferring them, watched descriptors, stopping; groups of them.
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
        await group.stop()
    }
}

/// Reads a pipe when its loop reports it, recording each byte.
private final class PipeReader: EventLoopWatcher, Sendable {
    private struct State {
        var received: [UInt8] = []
        var offLoop = 0
    }

    let fd: Int32
    let loop: EventLoop
    private let state = Mutex(State())

    init(fd: Int32, loop: EventLoop) {
        self.fd = fd
        self.loop = loop
    }

    func ready(_ events: UInt32) {
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = read(fd, &buffer, buffer.count)
        let onLoop = loop.inLoop
        state.withLock { state in
            if n > 0 { state.received += buffer[0..<n] }
            if !onLoop { state.offLoop += 1 }
        }
    }

    var bytes: [UInt8] { state.withLock { $0.received } }
    var reportsOffLoop: Int { state.withLock { $0.offLoop } }

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
