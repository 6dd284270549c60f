import Foundation

/// Live figures of this node reported in its heartbeat (slots, busy).
public final class NodeStatus: @unchecked Sendable {
    // @unchecked Sendable: every field is read and written with `lock` held.
    private let lock = NSLock()
    private var _slots = 0
    private var _busy = 0
    private var _warnings: [String] = []
    public let started = nowMillis()

    public init() {}

    public var slots: Int {
        get { lock.withLock { _slots } }
        set { lock.withLock { _slots = newValue } }
    }

    public var busy: Int { lock.withLock { _busy } }

    /// What works here only in a weaker form (a sandbox without cgroups…), for `/readyz`.
    public var warnings: [String] { lock.withLock { _warnings } }

    public func addWarning(_ warning: String) {
        lock.withLock { if !_warnings.contains(warning) { _warnings.append(warning) } }
    }

    public func adjustBusy(_ delta: Int) {
        lock.withLock { _busy += delta }
    }
}
