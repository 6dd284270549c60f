import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A log's processed bytes not yet in Redis, oldest first: in memory up to `memoryLimit`, the rest in
/// a spill file on the worker's disk (under the work directory), so a Redis outage costs neither the
/// log nor unbounded memory. Its total is bounded by the job's log limit (`LogLimiter` keeps the tail).
/// Used only by its `LogStream`'s pump task; file I/O runs off the cooperative pool (`offPool`).
struct LogBacklog {
    let memoryLimit: Int
    private let spillPath: String
    /// The oldest bytes.
    private var head: [UInt8] = []
    private var spill: Int32 = -1
    private var spillRead = 0
    private var spillWritten = 0

    init(memoryLimit: Int, spillPath: String) {
        self.memoryLimit = max(1, memoryLimit)
        self.spillPath = spillPath
    }

    var count: Int { head.count + spillWritten - spillRead }
    var isEmpty: Bool { count == 0 }
    /// Bytes currently on disk (for tests and the log line when spilling starts).
    var spilled: Int { spillWritten - spillRead }

    /// Adds bytes at the end: in memory while nothing is on disk and they fit, else to the spill file.
    /// When the disk fails too, they stay in memory: keeping the log wins over the memory bound.
    mutating func append(_ bytes: [UInt8]) async {
        guard !bytes.isEmpty else { return }
        if spilled == 0 && head.count + bytes.count <= memoryLimit {
            head += bytes
            return
        }
        do {
            if spill < 0 { spill = try await Self.open(spillPath) }
            let (fd, offset) = (spill, spillWritten)
            try await offPool("log-spill") { try Self.write(bytes, to: fd, at: offset) }
            spillWritten += bytes.count
        } catch {
            head += bytes
        }
    }

    /// Up to `max` of the oldest bytes, without removing them (see `drop`).
    mutating func peek(max: Int) async -> [UInt8] {
        if head.isEmpty && spilled > 0 {
            let (fd, offset, length) = (spill, spillRead, min(memoryLimit, spilled))
            if let read = try? await offPool("log-spill", { try Self.read(from: fd, at: offset, count: length) }) {
                head = read
                spillRead += read.count
            }
        }
        return Array(head.prefix(max))
    }

    /// Removes the `count` oldest bytes (after they were sent).
    mutating func drop(_ count: Int) async {
        head.removeFirst(min(count, head.count))
        if spill >= 0 && spilled == 0 && head.isEmpty {
            // All read back: start the file over.
            spillRead = 0
            spillWritten = 0
            let fd = spill
            _ = try? await offPool("log-spill") { ftruncate(fd, 0) }
        }
    }

    /// Everything left, oldest first.
    mutating func takeAll() async -> [UInt8] {
        var all: [UInt8] = []
        while !isEmpty {
            let bytes = await peek(max: Int.max)
            if bytes.isEmpty { break } // the spill file can't be read: nothing more to give
            all += bytes
            await drop(bytes.count)
        }
        return all
    }

    /// Closes and removes the spill file.
    mutating func discard() async {
        head = []
        guard spill >= 0 else { return }
        let (fd, path) = (spill, spillPath)
        spill = -1
        _ = try? await offPool("log-spill") {
            close(fd)
            unlink(path)
        }
    }

    private static func open(_ path: String) async throws -> Int32 {
        try await offPool("log-spill") {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let fd = Glibc.open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw SpillError("open \(path): \(String(cString: strerror(errno)))") }
            return fd
        }
    }

    private static func write(_ bytes: [UInt8], to fd: Int32, at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let written = bytes[done...].withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset + done)) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw SpillError("write: \(String(cString: strerror(errno)))") }
            done += written
        }
    }

    private static func read(from fd: Int32, at offset: Int, count: Int) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let read = buffer[done...].withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset + done)) }
            if read < 0 && errno == EINTR { continue }
            guard read > 0 else { throw SpillError("read: \(String(cString: strerror(errno)))") }
            done += read
        }
        return buffer
    }

    struct SpillError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }
}
