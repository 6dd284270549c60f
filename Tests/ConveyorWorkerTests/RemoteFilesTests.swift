import ConveyorTesting
@testable import ConveyorWorker
import Foundation
import Synchronization
import Testing

/// `JobFiles` through the ssh executor against the loopback sshd (the build cache's archives,
/// docs/cache.md): placed for the build user before the script, taken back after it, never through a
/// symlink and never more than allowed.
@Suite("Worker: job files over ssh")
struct RemoteFilesTests {
    static func run(_ script: String, files: JobFiles) async throws -> (outcome: ExecutionOutcome, output: String) {
        let executor = SSHExecutor(target: try SSHExecutorTests.target(), buildUser: "nobody")
        let output = Mutex<[UInt8]>([])
        let outcome = try await executor.run(ExecutionJob(id: 1, attempt: 1, script: script, files: files), started: {},
                                             output: { bytes in output.withLock { $0 += bytes } })
        return (outcome, output.withLock { String(decoding: $0, as: UTF8.self) })
    }

    static func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cv-rfiles-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func placesAndTakesFilesAsTheBuildUser() async throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("fetched-bytes".utf8).write(to: URL(fileURLWithPath: dir + "/in"))
        let files = JobFiles(inputs: [.init(path: ".conveyor/cache/fetch.tgz", contents: .file(dir + "/in"))],
                             outputs: [.init(path: ".conveyor/cache/store.tgz", destination: dir + "/out", maxBytes: 100)])
        let run = try await Self.run("""
            echo "read=$(cat .conveyor/cache/fetch.tgz) owner=$(stat -c %U .conveyor/cache/fetch.tgz)"
            printf stored-bytes > .conveyor/cache/store.tgz
            """, files: files)
        #expect(run.outcome == .exited(0), "\(run.output)")
        #expect(run.output.contains("read=fetched-bytes owner=nobody"), "\(run.output)")
        #expect(try String(contentsOfFile: dir + "/out", encoding: .utf8) == "stored-bytes")
    }

    @Test func refusesSymlinksAndOversizedFiles() async throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = JobFiles(outputs: [.init(path: ".conveyor/cache/store.tgz", destination: dir + "/out", maxBytes: 100)])
        let linked = try await Self.run("mkdir -p .conveyor/cache && ln -s /etc/shadow .conveyor/cache/store.tgz", files: files)
        #expect(linked.outcome == .exited(0), "\(linked.output)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"), "a symlink was followed")
        let parent = try await Self.run("mkdir -p .conveyor elsewhere && printf x > elsewhere/store.tgz && ln -s ../elsewhere .conveyor/cache", files: files)
        #expect(parent.outcome == .exited(0), "\(parent.output)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"), "a symlinked parent was followed")
        let large = try await Self.run("mkdir -p .conveyor/cache && head -c 5000 /dev/zero > .conveyor/cache/store.tgz", files: files)
        #expect(large.output.contains("more than the 100 bytes allowed"), "\(large.output)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"))
    }
}
