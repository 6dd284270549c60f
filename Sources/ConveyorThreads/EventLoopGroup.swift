import Synchronization

/// Event loops that read sockets for one client (the Postgres client's `StatementLoop` spreads its
/// connections over them), stopped together. Swift's global executor is not replaced: tasks run on
/// Swift's default pool unless they prefer a loop (see bench/README.md, "Executor").
public final class EventLoopGroup: Sendable {
    public let loops: [EventLoop]
    private let turn = Atomic<Int>(0)

    /// `threads` loops named `name-0`, `name-1`, …, started at once (at least one).
    public init(threads: Int, name: String) {
        loops = (0..<max(1, threads)).map { i in EventLoop(name: "\(name)-\(i)") }
    }

    /// The caller's loop if it runs on one of this group's, else the next in turn.
    public func next() -> EventLoop {
        if let current = EventLoop.current, loops.contains(where: { $0 === current }) { return current }
        let i = turn.wrappingAdd(1, ordering: .relaxed).oldValue
        return loops[Int(UInt(bitPattern: i) % UInt(loops.count))]
    }

    /// Ends every loop's thread.
    public func stop() async {
        for loop in loops { await loop.stop() }
    }
}
