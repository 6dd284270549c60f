import ConveyorTesting
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a reference tool to completion and returns its output (stdout and stderr).
///
/// Through `ChildProcess` (`posix_spawn`), not `Foundation.Process`: the child must begin with no
/// blocked signals (Dispatch's threads block nearly all of them and a child inherits the mask;
/// `pgbench -T` then never sees its SIGALRM and runs forever) and must inherit none of our sockets.
func runTool(_ executable: String, _ arguments: [String]) async throws -> String {
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-bench-\(getpid())-\(UUID().uuidString.prefix(8)).log").path
    defer { try? FileManager.default.removeItem(atPath: log) }
    return try await ChildProcess.run(executable, arguments, log: log)
}

/// Finds `name` on PATH, then in the PostgreSQL server folders (`pgbench` lives there on Debian).
func findTool(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    var dirs = path.split(separator: ":").map(String.init)
    let pgRoot = "/usr/lib/postgresql"
    let versions = ((try? FileManager.default.contentsOfDirectory(atPath: pgRoot)) ?? []).sorted { (Int($0) ?? 0) > (Int($1) ?? 0) }
    dirs += versions.map { "\(pgRoot)/\($0)/bin" }
    for dir in dirs where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
        return "\(dir)/\(name)"
    }
    return nil
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
