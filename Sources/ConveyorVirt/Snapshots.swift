import CLibvirt
import Foundation

extension VirtConnection {
    /// Takes a snapshot called `name` of the domain's current state (disk and, if running, memory).
    public func createSnapshot(_ domain: String, name: String) async throws {
        let xml = "<domainsnapshot><name>\(escapeXML(name))</name></domainsnapshot>"
        try await call("creating snapshot \(name) of \(domain)") { handle in
            try handle.withDomain(domain) { pointer in
                guard let snapshot = cv_virDomainSnapshotCreateXML(pointer, xml, 0) else {
                    throw VirtError.last("creating snapshot \(name) of \(domain)")
                }
                cv_virDomainSnapshotFree(snapshot)
            }
        }
    }

    /// Returns the domain to snapshot `name`, including its running state at the time.
    public func revert(_ domain: String, toSnapshot name: String) async throws {
        try await call("reverting \(domain) to \(name)") { handle in
            try handle.withDomain(domain) { pointer in
                guard let snapshot = cv_virDomainSnapshotLookupByName(pointer, name, 0) else {
                    throw VirtError.last("looking up snapshot \(name) of \(domain)")
                }
                defer { cv_virDomainSnapshotFree(snapshot) }
                try handle.check("reverting \(domain) to \(name)", cv_virDomainRevertToSnapshot(snapshot, 0))
            }
        }
    }

    public func snapshotNames(_ domain: String) async throws -> [String] {
        try await call("listing snapshots of \(domain)") { handle in
            try handle.withDomain(domain) { pointer in
                var list: UnsafeMutablePointer<OpaquePointer?>?
                let count = cv_virDomainListAllSnapshots(pointer, &list, 0)
                guard count >= 0 else { throw VirtError.last("listing snapshots of \(domain)") }
                defer { free(list) }
                var names: [String] = []
                for index in 0..<Int(count) {
                    guard let snapshot = list?[index] else { continue }
                    if let name = cv_virDomainSnapshotGetName(snapshot) { names.append(String(cString: name)) }
                    cv_virDomainSnapshotFree(snapshot)
                }
                return names
            }
        }
    }

    /// Deletes snapshot `name` (its metadata and data).
    public func deleteSnapshot(_ domain: String, name: String) async throws {
        try await call("deleting snapshot \(name) of \(domain)") { handle in
            try handle.withDomain(domain) { pointer in
                guard let snapshot = cv_virDomainSnapshotLookupByName(pointer, name, 0) else {
                    throw VirtError.last("looking up snapshot \(name) of \(domain)")
                }
                defer { cv_virDomainSnapshotFree(snapshot) }
                try handle.check("deleting snapshot \(name) of \(domain)", cv_virDomainSnapshotDelete(snapshot, 0))
            }
        }
    }
}

private func escapeXML(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
}
