import Foundation
import Testing
@testable import ConveyorWorker

/// What the worker takes back from a job's directory (the build cache's `store.tgz`, docs/cache.md):
/// the directory is the job's, so a symlink, a FIFO, a symlinked parent or an oversized file must not
/// make the worker (root) read something else, block, or copy more than allowed.
@Suite struct JobFilesTests {
    static func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cv-files-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir + "/job/.conveyor/cache", withIntermediateDirectories: true)
        return dir
    }

    static func files(_ dir: String, max: Int64 = 1000) -> JobFiles {
        JobFiles(outputs: [.init(path: ".conveyor/cache/store.tgz", destination: dir + "/taken", maxBytes: max)])
    }

    @Test func takesARegularFileWithinItsCap() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("archive".utf8).write(to: URL(fileURLWithPath: dir + "/job/.conveyor/cache/store.tgz"))
        #expect(Self.files(dir).collect(from: dir + "/job").isEmpty)
        #expect(try String(contentsOfFile: dir + "/taken", encoding: .utf8) == "archive")
        #expect(Self.files(dir, max: 3).collect(from: dir + "/job").first?.contains("more than the 3 allowed") == true)
        #expect(!FileManager.default.fileExists(atPath: dir + "/taken"), "a refused file leaves nothing behind")
    }

    @Test func refusesSymlinksFifosAndSymlinkedParents() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("root only".utf8).write(to: URL(fileURLWithPath: dir + "/secret"))
        let target = dir + "/job/.conveyor/cache/store.tgz"
        try FileManager.default.createSymbolicLink(atPath: target, withDestinationPath: dir + "/secret")
        _ = Self.files(dir).collect(from: dir + "/job")
        #expect(!FileManager.default.fileExists(atPath: dir + "/taken"), "a symlink was followed")

        try FileManager.default.removeItem(atPath: target)
        #expect(mkfifo(target, 0o600) == 0)
        #expect(Self.files(dir).collect(from: dir + "/job").first?.contains("not a regular file") == true)
        #expect(!FileManager.default.fileExists(atPath: dir + "/taken"))

        try FileManager.default.removeItem(atPath: dir + "/job/.conveyor/cache")
        try FileManager.default.createDirectory(atPath: dir + "/elsewhere", withIntermediateDirectories: true)
        try Data("not the job's".utf8).write(to: URL(fileURLWithPath: dir + "/elsewhere/store.tgz"))
        try FileManager.default.createSymbolicLink(atPath: dir + "/job/.conveyor/cache", withDestinationPath: dir + "/elsewhere")
        _ = Self.files(dir).collect(from: dir + "/job")
        #expect(!FileManager.default.fileExists(atPath: dir + "/taken"), "a symlinked parent was followed")
    }

    @Test func placesInputsForTheBuildUser() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/fresh", withIntermediateDirectories: true)
        try Data("bytes".utf8).write(to: URL(fileURLWithPath: dir + "/source"))
        let files = JobFiles(inputs: [.init(path: ".conveyor/cache/fetch.tgz", contents: .file(dir + "/source")),
                                      .init(path: ".conveyor/cache/fetch.from", contents: .text("main/slug"))])
        try files.place(in: dir + "/fresh", uid: 4242)
        let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/fresh/.conveyor/cache/fetch.tgz")
        #expect((attributes[.ownerAccountID] as? NSNumber)?.intValue == 4242)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try String(contentsOfFile: dir + "/fresh/.conveyor/cache/fetch.from", encoding: .utf8) == "main/slug")
        let parent = try FileManager.default.attributesOfItem(atPath: dir + "/fresh/.conveyor")
        #expect((parent[.ownerAccountID] as? NSNumber)?.intValue == 4242)
    }
}
