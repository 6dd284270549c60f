#if canImport(Glibc)
import Glibc
#endif

/// Adds "close every descriptor from `lowest` up" to a `posix_spawn` file-actions list, so a child
/// inherits nothing of its parent beyond the descriptors set up before it (stdio): no listening
/// socket, no other child's pipe. glibc ≥ 2.34 has `posix_spawn_file_actions_addclosefrom_np`,
/// which Swift's Glibc module does not export, so it is looked up at run time.
public func addCloseFrom(_ actions: inout posix_spawn_file_actions_t, lowest: Int32) {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") {
        _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, lowest)
    }
}
