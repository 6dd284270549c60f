import CLibvirt
import Foundation
import ConveyorThreads

/// A libvirt connection confined to its own thread; every call is `async` and bounded by
/// `callTimeout`. Call `close()` when done.
public final class VirtConnection: Sendable {
    let thread: DedicatedThread
    let handle: ConnectionHandle
    /// How long to wait for any single libvirt call.
    public let callTimeout: Duration
    private let closed = ClosedFlag()

    private init(thread: DedicatedThread, handle: ConnectionHandle, callTimeout: Duration) {
        self.thread = thread
        self.handle = handle
        self.callTimeout = callTimeout
    }

    deinit { assert(closed.isSet, "VirtConnection to \(handle.uri) was not closed") }

    /// Opens `uri` ("test:///default" in tests, "qemu:///system" in production).
    public static func open(uri: String, callTimeout: Duration = .seconds(30)) async throws -> VirtConnection {
        try EventLoop.ready.get()
        let thread = DedicatedThread(name: "virt:\(uri)")
        do {
            let handle = try await thread.run(timeout: callTimeout, "opening \(uri)") {
                guard let connection = cv_virConnectOpen(uri) else { throw VirtError.last("opening \(uri)") }
                // Notice a dead remote daemon: ping every 5 s, give up after 3 missed answers.
                // Local drivers (test://) don't support keepalive; that is fine.
                if cv_virConnectSetKeepAlive(connection, 5, 3) < 0 { cv_virResetLastError() }
                return ConnectionHandle(uri: uri, connection: connection)
            }
            return VirtConnection(thread: thread, handle: handle, callTimeout: callTimeout)
        } catch {
            thread.shutdown()
            throw error
        }
    }

    /// Runs `body` with the connection handle on the connection's thread, within `callTimeout`.
    func call<T: Sendable>(_ what: String, _ body: @escaping @Sendable (ConnectionHandle) throws -> T) async throws -> T {
        try await thread.run(timeout: callTimeout, what) { [handle] in try body(handle) }
    }

    /// Names of all domains, running or not.
    public func domainNames() async throws -> [String] {
        try await call("listing domains") { handle in
            var list: UnsafeMutablePointer<OpaquePointer?>?
            let count = cv_virConnectListAllDomains(try handle.open(), &list, 0)
            guard count >= 0 else { throw VirtError.last("listing domains") }
            defer { free(list) }
            var names: [String] = []
            for index in 0..<Int(count) {
                guard let domain = list?[index] else { continue }
                if let name = cv_virDomainGetName(domain) { names.append(String(cString: name)) }
                cv_virDomainFree(domain)
            }
            return names
        }
    }

    public func state(of domain: String) async throws -> DomainState {
        try await call("reading the state of \(domain)") { handle in
            try handle.withDomain(domain) { pointer in
                var state: Int32 = 0
                var reason: Int32 = 0
                try handle.check("reading the state of \(domain)", cv_virDomainGetState(pointer, &state, &reason, 0))
                return DomainState(raw: state)
            }
        }
    }

    /// Boots a defined, shut-off domain.
    public func start(_ domain: String) async throws {
        try await call("starting \(domain)") { handle in
            try handle.withDomain(domain) { try handle.check("starting \(domain)", cv_virDomainCreate($0)) }
        }
    }

    /// Powers the domain off at once (like pulling the plug).
    public func destroy(_ domain: String) async throws {
        try await call("destroying \(domain)") { handle in
            try handle.withDomain(domain) { try handle.check("destroying \(domain)", cv_virDomainDestroy($0)) }
        }
    }

    /// Asks the guest to shut down, waits up to `timeout` for it to be off, then destroys it.
    public func shutdown(_ domain: String, timeout: Duration) async throws {
        if try await state(of: domain) == .shutoff { return }
        try await call("shutting down \(domain)") { handle in
            try handle.withDomain(domain) { try handle.check("shutting down \(domain)", cv_virDomainShutdown($0)) }
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await state(of: domain) == .shutoff { return }
            try await Task.sleep(for: .milliseconds(250))
        }
        if try await state(of: domain) != .shutoff { try await destroy(domain) }
    }

    /// Closes the connection and stops its thread (waiting at most `callTimeout` for a call still
    /// running on it).
    public func close() async {
        _ = try? await thread.run(timeout: callTimeout, "closing \(handle.uri)") { [handle] in handle.close() }
        thread.shutdown()
        closed.set()
    }
}
