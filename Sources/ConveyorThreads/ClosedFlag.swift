import Synchronization

/// Remembers whether `close()` ran, so `deinit` can assert it did (close is explicit and async;
/// deinit can't do it). Shared by every module that owns a C handle.
public final class ClosedFlag: Sendable {
    private let closed = Atomic<Bool>(false)

    public init() {}

    public func set() {
        closed.store(true, ordering: .releasing)
    }

    public var isSet: Bool {
        closed.load(ordering: .acquiring)
    }
}
