import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files the worker hands a job and takes back from it (the build cache's archives, docs/cache.md).
/// Paths are relative to the job's directory. Blocking: use from `offPool`.
public struct JobFiles: Sendable {
    public struct Input: Sendable {
        public var path: String
        public var contents: Contents

        public enum Contents: Sendable {
            /// A host file, copied.
            case file(String)
            case text(String)
        }

        public init(path: String, contents: Contents) {
            self.path = path
            self.contents = contents
        }
    }

    public struct Output: Sendable {
        public var path: String
        /// Where the worker keeps it; only written when the job left a regular file of at most `maxBytes`.
        public var destination: String
        public var maxBytes: Int64

        public init(path: String, destination: String, maxBytes: Int64) {
            self.path = path
            self.destination = destination
            self.maxBytes = maxBytes
        }
    }

    public var inputs: [Input] = []
    public var outputs: [Output] = []

    public init(inputs: [Input] = [], outputs: [Output] = []) {
        self.inputs = inputs
        self.outputs = outputs
    }

    public var isEmpty: Bool { inputs.isEmpty && outputs.isEmpty }

    /// Puts the inputs into `directory` (before the job runs, so nothing of the job can interfere),
    /// owned by `uid` when the job runs as a build user.
    func place(in directory: String, uid: Int?) throws {
        let manager = FileManager.default
        for input in inputs {
            let target = "\(directory)/\(input.path)"
            var parent = directory
            for component in input.path.split(separator: "/").dropLast() {
                parent += "/\(component)"
                if !manager.fileExists(atPath: parent) {
                    try manager.createDirectory(atPath: parent, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
                    if let uid { chown(parent, uid_t(uid), gid_t(uid)) }
                }
            }
            switch input.contents {
            case .file(let source): try manager.copyItem(atPath: source, toPath: target)
            case .text(let text): try Data(text.utf8).write(to: URL(fileURLWithPath: target))
            }
            chmod(target, 0o600)
            if let uid { chown(target, uid_t(uid), gid_t(uid)) }
        }
    }

    /// Copies the outputs out of `directory` once nothing of the job runs any more. The directory is the
    /// job's: every component is opened without following symlinks, only a regular file is taken, and
    /// never more than its `maxBytes`. Returns a line for the job's log per output refused.
    func collect(from directory: String) -> [String] {
        var notes: [String] = []
        for output in outputs {
            unlink(output.destination)
            guard let fd = Self.openBeneath(directory, output.path) else { continue }
            defer { close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                notes.append("conveyor: \(output.path) is not a regular file; not taken\n")
                continue
            }
            guard Int64(info.st_size) <= output.maxBytes else {
                notes.append("conveyor: \(output.path) is \(info.st_size) bytes, more than the \(output.maxBytes) allowed; not taken\n")
                continue
            }
            if let failure = Self.copy(from: fd, to: output.destination, maxBytes: output.maxBytes) {
                unlink(output.destination)
                notes.append("conveyor: \(output.path) could not be taken: \(failure)\n")
            }
        }
        return notes
    }

    /// The file at `relative` under `directory`, opened with no symlink followed and no `..` allowed.
    static func openBeneath(_ directory: String, _ relative: String) -> Int32? {
        var fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        let parts = relative.split(separator: "/")
        for (index, part) in parts.enumerated() {
            guard part != "..", part != "." else {
                close(fd)
                return nil
            }
            let last = index == parts.count - 1
            // O_NONBLOCK: a FIFO left in place of the file must not block the worker.
            let flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? O_NONBLOCK : O_DIRECTORY)
            let next = openat(fd, String(part), flags)
            close(fd)
            guard next >= 0 else { return nil }
            fd = next
        }
        return fd
    }

    /// Copies at most `maxBytes` (a file growing past it is refused); nil on success.
    private static func copy(from fd: Int32, to destination: String, maxBytes: Int64) -> String? {
        let out = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC, 0o600)
        guard out >= 0 else { return "cannot create \(destination): \(String(cString: strerror(errno)))" }
        defer { close(out) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total: Int64 = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 { return "read failed: \(String(cString: strerror(errno)))" }
            if count == 0 { return nil }
            total += Int64(count)
            if total > maxBytes { return "larger than \(maxBytes) bytes" }
            var written = 0
            while written < count {
                let n = buffer.withUnsafeBytes { write(out, $0.baseAddress! + written, count - written) }
                if n <= 0 { return "write failed: \(String(cString: strerror(errno)))" }
                written += n
            }
        }
    }
}
