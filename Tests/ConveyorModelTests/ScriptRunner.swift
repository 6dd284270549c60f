import Foundation
@testable import ConveyorModel

/// Runs generated build scripts with /bin/bash against a throwaway git repository (tests only).
struct ScriptRun {
    var status: Int32
    var output: String
    /// Every path under the repository's temp directory when the script ended.
    var files: [String] = []
}

enum ScriptRunner {
    /// A temp directory holding a `file://` repository with two commits; returns its URL and both shas.
    static func makeRepository() throws -> (url: String, first: String, second: String, directory: URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-test-\(UUID().uuidString)")
        let origin = directory.appendingPathComponent("origin")
        try FileManager.default.createDirectory(at: origin, withIntermediateDirectories: true)
        let setup = """
            set -e
            cd '\(origin.path)'
            git init -q -b main .
            git config user.email t@example.com
            git config user.name Test
            echo one > file.txt
            git add file.txt
            git commit -q -m one
            git rev-parse HEAD > ../first
            echo two > file.txt
            git commit -q -am two
            git rev-parse HEAD > ../second
            """
        let result = try bash(setup, in: directory)
        guard result.status == 0 else { throw RunnerError(message: "repo setup failed: \(result.output)") }
        func read(_ name: String) throws -> String {
            try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return ("file://\(origin.path)", try read("first"), try read("second"), directory)
    }

    /// Compiles and runs `job` in a fresh work directory.
    static func run(_ job: JobSpec, checkout: (String, String, URL) -> CheckoutSpec = { url, sha, _ in
        CheckoutSpec(repoURL: url, sha: sha, branch: "main", depth: 50)
    }, useFirstCommit: Bool = false) throws -> ScriptRun {
        let repo = try makeRepository()
        defer { try? FileManager.default.removeItem(at: repo.directory) }
        let spec = checkout(repo.url, useFirstCommit ? repo.first : repo.second, repo.directory)
        let script = try ScriptCompiler.compile(job: job, checkout: spec)
        let work = repo.directory.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        var result = try bash(script, in: work)
        let enumerator = FileManager.default.enumerator(atPath: repo.directory.path)
        result.files = (enumerator?.allObjects as? [String]) ?? []
        return result
    }

    static func bash(_ script: String, in directory: URL) throws -> ScriptRun {
        let file = directory.appendingPathComponent("script-\(UUID().uuidString).sh")
        try script.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [file.path]
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return ScriptRun(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    struct RunnerError: Error { var message: String }
}

/// A shell job with the given phases.
func shellJob(_ phases: [Phase: [String]], env: [EnvVar] = []) -> JobSpec {
    JobSpec(language: "shell", env: env, phases: phases)
}
