import CLibvirt
import Foundation

/// libvirt's default event loop: registered once per process and run on its own thread, before the
/// first connection is opened (keepalives and events of remote connections depend on it).
enum EventLoop {
    /// Set up on first use; a global `let` is initialised exactly once, thread-safely.
    static let ready: Result<Void, VirtError> = start()

    private static func start() -> Result<Void, VirtError> {
        guard virInitialize() == 0 else { return .failure(VirtError.last("virInitialize")) }
        // Errors are returned to callers; keep libvirt from also printing them to stderr.
        virSetErrorFunc(nil) { _, _ in }
        guard virEventRegisterDefaultImpl() == 0 else {
            return .failure(VirtError.last("virEventRegisterDefaultImpl"))
        }
        let thread = Thread {
            while true {
                if virEventRunDefaultImpl() < 0 { virResetLastError() }
            }
        }
        thread.name = "libvirt-events"
        thread.stackSize = 1 << 20
        thread.start()
        return .success(())
    }
}
