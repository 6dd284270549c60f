import Foundation

/// A local git repository with one commit, cloned by jobs through a `file://` URL.
struct GitFixture: Sendable {
    let path: String
    let sha: String
    var url: String { "file://\(path)" }

    static let shared: GitFixture = {
        do {
            return try make()
        } catch {
            fatalError("could not create the test git repository: \(error)")
        }
    }()

    static func make() throws -> GitFixture {
        let path = NSTemporaryDirectory() + "conveyor-worker-origin-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try "hello from the fixture\n".write(toFile: path + "/README", atomically: true, encoding: .utf8)
        _ = try git(["init", "-q", "-b", "main"], in: path)
        _ = try git(["add", "README"], in: path)
        _ = try git(["-c", "user.name=Conveyor", "-c", "user.email=ci@example.invalid", "commit", "-q", "-m", "first"], in: path)
        let sha = try git(["rev-parse", "HEAD"], in: path).trimmingCharacters(in: .whitespacesAndNewlines)
        return GitFixture(path: path, sha: sha)
    }

    static func git(_ arguments: [String], in directory: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw GitFixtureError(description: "git \(arguments.joined(separator: " ")) failed: \(output)")
        }
        return output
    }
}

struct GitFixtureError: Error, CustomStringConvertible {
    var description: String
}
