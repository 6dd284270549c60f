import CLibvirt

/// What a domain is doing, as `virDomainGetState` reports it.
public enum DomainState: Sendable, Equatable, CustomStringConvertible {
    case running, shutoff, paused
    /// Any other `virDomainState` value (blocked, shutdown in progress, crashed, suspended…).
    case other(Int32)

    init(raw: Int32) {
        switch raw {
        case Int32(VIR_DOMAIN_RUNNING.rawValue): self = .running
        case Int32(VIR_DOMAIN_SHUTOFF.rawValue): self = .shutoff
        case Int32(VIR_DOMAIN_PAUSED.rawValue): self = .paused
        default: self = .other(raw)
        }
    }

    public var description: String {
        switch self {
        case .running: "running"
        case .shutoff: "shutoff"
        case .paused: "paused"
        case .other(let raw): "state \(raw)"
        }
    }
}
