import CLibvirt
import Foundation

/// libvirt's default event loop: registered once per process and run on its own thread, before the
/// first connection is opened (keepalives and events of remote connections depend on it).
enum EventLoop {
    /// Set up on first use; a global `let` is initialised exactly once, thread-safely.
    static let ready: Result<Void, VirtError> = start()

    private static func start() -> Result<Void, VirtError> {
        if let error = cv_virt_load_error() { return .failure(VirtError("loading libvirt: \(String(cString: error))")) }
        guard cv_virInitialize() == 0 else { return .failure(VirtError.last("virInitialize")) }
        // Errors are returned to callers; keep libvirt from also printing them to stderr.
        cv_virSetErrorFunc(nil) { _, _ in }
        guard cv_virEventRegisterDefaultImpl() == 0 else {
            return .failure(VirtError.last("virEventRegisterDefaultImpl"))
        }
        let thread = Thread {
            while true {
                if cv_virEventRunDefaultImpl() < 0 { cv_virResetLastError() }
            }
        }
        thread.name = "libvirt-events"
        thread.stackSize = 1 << 20
        thread.start()
        return .success(())
    }
}
