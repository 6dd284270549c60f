import Synchronization

/// A rotating start index, shared by the callers of one pool (HTTP client threads, worker queues):
/// each call returns the next non-negative number.
public final class RoundRobin: Sendable {
    private let counter = Atomic<Int>(0)

    public init() {}

    public func next() -> Int {
        counter.wrappingAdd(1, ordering: .relaxed).newValue & Int.max
    }
}
