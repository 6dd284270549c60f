import Foundation
import Synchronization

/// Live figures of this node reported in its heartbeat (slots, busy).
public final class NodeStatus: Sendable {
    private let slotCount = Atomic<Int>(0)
    private let busyCount = Atomic<Int>(0)
    private let warningList = Mutex<[String]>([])
    public let started = nowMillis()

    public init() {}

    public var slots: Int {
        get { slotCount.load(ordering: .relaxed) }
        set { slotCount.store(newValue, ordering: .relaxed) }
    }

    public var busy: Int { busyCount.load(ordering: .relaxed) }

    /// What works here only in a weaker form (a sandbox without cgroups…), for `/readyz`.
    public var warnings: [String] { warningList.withLock { $0 } }

    public func addWarning(_ warning: String) {
        warningList.withLock { if !$0.contains(warning) { $0.append(warning) } }
    }

    public func adjustBusy(_ delta: Int) {
        busyCount.wrappingAdd(delta, ordering: .relaxed)
    }
}
