import CLibvirt

/// An open `virConnectPtr`.
///
/// `@unchecked Sendable`: the pointer is used only inside closures run on the owning
/// `VirtConnection`'s DedicatedThread, so libvirt's per-thread last error always belongs to the call
/// that just failed on it.
final class ConnectionHandle: @unchecked Sendable {
    let uri: String
    private(set) var connection: OpaquePointer?

    init(uri: String, connection: OpaquePointer) {
        self.uri = uri
        self.connection = connection
    }

    func open() throws -> OpaquePointer {
        guard let connection else { throw VirtError("connection to \(uri) is closed") }
        return connection
    }

    /// Looks `name` up, passes the domain to `body` and frees it afterwards.
    func withDomain<T>(_ name: String, _ body: (OpaquePointer) throws -> T) throws -> T {
        guard let domain = cv_virDomainLookupByName(try open(), name) else {
            throw VirtError.last("looking up domain \(name)")
        }
        defer { cv_virDomainFree(domain) }
        return try body(domain)
    }

    /// Runs a libvirt call that returns -1 on failure, throwing libvirt's message.
    func check(_ what: String, _ rc: Int32) throws {
        if rc < 0 { throw VirtError.last(what) }
    }

    func close() {
        if let connection { cv_virConnectClose(connection) }
        connection = nil
    }
}
