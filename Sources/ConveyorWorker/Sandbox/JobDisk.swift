import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `job_disk_limit`: the job's home is a sparse ext4 image of that size, loop-mounted (nosuid,
/// nodev) and owned by the build uid, so a job that fills it gets ENOSPC and the host's disk does not
/// fill. Blocking (runs mkfs and mount): use from `offPool`.
enum JobDisk {
    static func mount(image: String, on directory: String, bytes: Int64, uid: Int) throws {
        let fd = open(image, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw WorkerError("cannot create \(image): \(String(cString: strerror(errno)))") }
        let sized = ftruncate(fd, off_t(bytes))
        close(fd)
        guard sized == 0 else { throw WorkerError("cannot size \(image): \(String(cString: strerror(errno)))") }
        try run(["/usr/sbin/mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1,root_owner=\(uid):\(uid)", image])
        try run(["/usr/bin/mount", "-o", "loop,nosuid,nodev", image, directory])
        chmod(directory, 0o700)
        // mkfs leaves lost+found; the job's directory starts empty.
        try? FileManager.default.removeItem(atPath: directory + "/lost+found")
    }

    static func unmount(_ directory: String) {
        for _ in 0..<20 {
            if umount2(directory, 0) == 0 || errno == EINVAL || errno == ENOENT { return }
            usleep(50_000)
        }
        _ = umount2(directory, Int32(MNT_DETACH))
    }

    /// Whether the file system on `directory` is (nearly) full: the job ran into its disk limit.
    static func full(_ directory: String) -> Bool {
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else { return false }
        return UInt64(info.f_bavail) * UInt64(info.f_frsize) < 1 << 20
    }

    private static func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw WorkerError("\(arguments.joined(separator: " ")) failed: \(output.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
