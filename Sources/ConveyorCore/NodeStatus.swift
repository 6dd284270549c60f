import Foundation
import Synchronization

/// Live figures of this node reported in its heartbeat (slots, busy).
public final class NodeStatus: Sendable {
    private let slotCount = Atomic<Int>(0)
    private let busyCount = Atomic<Int>(0)
    public let started = nowMillis()

    public init() {}

    public var slots: Int {
        get { slotCount.load(ordering: .relaxed) }
        set { slotCount.store(newValue, ordering: .relaxed) }
    }

    public var busy: Int { busyCount.load(ordering: .relaxed) }

    public func adjustBusy(_ delta: Int) {
        busyCount.wrappingAdd(delta, ordering: .relaxed)
    }
}
