import Foundation

/// Remembers whether `close()` ran, so `deinit` can assert it did (close is explicit and async;
/// deinit can't do it). Shared by every module that owns a C handle.
public final class ClosedFlag: @unchecked Sendable {
    // @unchecked Sendable: `closed` is only touched with `lock` held.
    private let lock = NSLock()
    private var closed = false

    public init() {}

    public func set() {
        lock.withLock { closed = true }
    }

    public var isSet: Bool {
        lock.withLock { closed }
    }
}
