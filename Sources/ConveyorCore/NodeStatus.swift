import Foundation

/// Live figures of this node reported in its heartbeat (slots, busy).
public final class NodeStatus: @unchecked Sendable {
    // @unchecked Sendable: every field is read and written with `lock` held.
    private let lock = NSLock()
    private var _slots = 0
    private var _busy = 0
    public let started = nowMillis()

    public init() {}

    public var slots: Int {
        get { lock.withLock { _slots } }
        set { lock.withLock { _slots = newValue } }
    }

    public var busy: Int { lock.withLock { _busy } }

    public func adjustBusy(_ delta: Int) {
        lock.withLock { _busy += delta }
    }
}
