import Foundation

/// Remembers whether `close()` ran, so `deinit` can assert it did (close is explicit and async;
/// deinit can't do it).
final class ClosedFlag: @unchecked Sendable {
    // @unchecked Sendable: `closed` is only touched with `lock` held.
    private let lock = NSLock()
    private var closed = false

    func set() {
        lock.lock()
        closed = true
        lock.unlock()
    }

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return closed
    }
}
