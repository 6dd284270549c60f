import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Event loops that share work: a job queued on a busy loop wakes an idle sibling, which takes
/// half of the busy loop's queue. Installed as Swift's global executor (what `conveyor node` does),
/// the group's threads run every task that has no executor of its own, and the Postgres client
/// reads its sockets on them (`PostgresClient` arms them on `EventLoopGroup.global`), so a task
/// resumed by its result continues on the thread that read it: no thread wake-up per statement.
/// A group is never stopped: its loops run for the rest of the process.
public final class EventLoopGroup: @unchecked Sendable {
    // @unchecked Sendable: `loops` is immutable after `init`; `turn` is atomic.
    public let loops: [EventLoop]
    private let turn = Atomic<Int>(0)

    /// `threads` loops named `name-0`, `name-1`, …, started at once.
    public init(threads: Int, name: String) {
        loops = (0..<max(1, threads)).map { i in EventLoop(unstartedNamed: "\(name)-\(i)") }
        for loop in loops {
            loop.join(self)
            loop.start()
        }
    }

    /// The caller's loop if it runs on one of this group's, else the next in turn.
    public func next() -> EventLoop {
        if let current = EventLoop.current, current.group === self { return current }
        let i = turn.wrappingAdd(1, ordering: .relaxed).oldValue
        return loops[Int(UInt(bitPattern: i) % UInt(loops.count))]
    }

    /// Wakes one idle loop other than `busy`, which then takes some of `busy`'s jobs.
    func wakeIdleLoop(besides busy: EventLoop) {
        for loop in loops where loop !== busy {
            if loop.wakeIfWaiting() { return }
        }
    }

    /// Jobs for an idle `loop`, taken from the first sibling with a queue.
    func jobsToShare(with loop: EventLoop) -> [QueuedJob] {
        for sibling in loops where sibling !== loop {
            let jobs = sibling.shareJobs()
            if !jobs.isEmpty { return jobs }
        }
        return []
    }

    // MARK: - Swift's global executor

    /// The group that runs Swift's global jobs, once `installAsGlobalExecutor` succeeded.
    public static var global: EventLoopGroup? { installedGroup }

    /// Makes a group of `threads` loops Swift's global executor for the rest of the process, the way
    /// SwiftNIO's `NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor`
    /// does with NIO's loops: through the runtime's `swift_task_enqueueGlobal_hook`, which every
    /// new task, resumed continuation and actor hop goes through. Jobs already queued on Dispatch's
    /// pool finish there. Two paths bypass the hook and run a step on Dispatch's pool, coming back
    /// at the task's next global job: a task waking from `Task.sleep` (delayed jobs), and
    /// `Task.yield()` called on a Dispatch thread (since Swift 6.2 it enqueues on
    /// `Task.currentExecutor`; on a loop, that is the loop). Call once, early (before the tasks it should run start).
    /// Returns nil (and changes nothing) if the hook is missing or already taken.
    public static func installAsGlobalExecutor(threads: Int) -> EventLoopGroup? {
        precondition(installedGroup == nil, "the global executor is installed once")
        guard let symbol = dlsym(dlopen(nil, RTLD_NOW), "swift_task_enqueueGlobal_hook") else { return nil }
        let hook = symbol.assumingMemoryBound(to: EnqueueGlobalHook?.self)
        guard hook.pointee == nil else { return nil }
        let group = EventLoopGroup(threads: threads, name: "conveyor-loop")
        installedGroup = group
        atomicMemoryFence(ordering: .sequentiallyConsistent)  // the group is seen before the hook
        hook.pointee = { job, original in
            guard let group = installedGroup, routesGlobalJobs.load(ordering: .relaxed) else { return original(job) }
            group.next().enqueueGlobal(job)
        }
        return group
    }

    /// Whether the installed group runs Swift's global jobs (true once installed). Off, new global
    /// jobs go to Dispatch's pool again; the benchmark compares both in one process with it.
    public static var runsGlobalJobs: Bool {
        get { installedGroup != nil && routesGlobalJobs.load(ordering: .relaxed) }
        set { routesGlobalJobs.store(newValue, ordering: .relaxed) }
    }
}

/// The runtime's hook type: the job, and the runtime's own enqueue to fall back on.
private typealias EnqueueGlobalHook = @convention(thin) (UnownedJob, @convention(thin) (UnownedJob) -> Void) -> Void

/// Written once, before the hook that reads it is installed (with a fence between); never changed.
nonisolated(unsafe) private var installedGroup: EventLoopGroup?
private let routesGlobalJobs = Atomic<Bool>(true)
