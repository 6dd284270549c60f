import Foundation

/// Runs a reference tool and returns its standard output; fails with its output when it fails.
func runTool(_ executable: String, _ arguments: [String]) async throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = FileHandle.nullDevice
    try process.run()
    let (out, err) = try await Task.detached {
        // Read both pipes to the end before waiting, so a chatty tool never blocks on a full pipe.
        let errTask = Task.detached { (try? errors.fileHandleForReading.readToEnd()) ?? Data() }
        let out = try output.fileHandleForReading.readToEnd() ?? Data()
        let err = await errTask.value
        process.waitUntilExit()
        return (String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }.value
    guard process.terminationStatus == 0 else {
        throw BenchError("\(executable) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus):\n\(out)\n\(err)")
    }
    return out + err
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
