import CLibvirt

/// A failed libvirt call, with libvirt's own message and error code (`virErrorNumber`, e.g. 42 for
/// "domain not found"; 0 when the failure did not come from libvirt).
public struct VirtError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var code: Int32

    public init(_ message: String, code: Int32 = 0) {
        self.message = message
        self.code = code
    }

    public var description: String { "libvirt: \(message)" }

    /// `virErrorNumber` VIR_ERR_NO_DOMAIN.
    public static let noDomain = Int32(VIR_ERR_NO_DOMAIN.rawValue)
    /// `virErrorNumber` VIR_ERR_NO_DOMAIN_SNAPSHOT.
    public static let noSnapshot = Int32(VIR_ERR_NO_DOMAIN_SNAPSHOT.rawValue)

    /// libvirt's last error on this thread, which it keeps per thread: call it on the thread (and in
    /// the same closure) as the call that failed.
    static func last(_ what: String) -> VirtError {
        guard let error = cv_virGetLastError() else { return VirtError("\(what) failed") }
        let message = error.pointee.message.map { String(cString: $0) } ?? "unknown error"
        let code = error.pointee.code
        cv_virResetLastError()
        return VirtError("\(what): \(message)", code: code)
    }
}
