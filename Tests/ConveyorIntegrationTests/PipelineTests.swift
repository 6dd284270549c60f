import ConveyorCore
import ConveyorGatekeeper
import ConveyorHub
import ConveyorLogs
import ConveyorRedis
import ConveyorScheduler
import ConveyorTesting
import ConveyorWorker
import Foundation
import Testing

/// The whole path on real servers: request → gatekeeper (two of them) → scheduler → worker (a
/// real bash script in the sandbox) → hub → logs, ending in Postgres and on `cv:events`.
@Suite struct PipelineTests {
    /// Runs git in `dir` as a test committer; its trimmed stdout.
    static func git(_ dir: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/git")
        p.arguments = ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.invalid"] + args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func makeRepository(_ config: String) throws -> (url: String, sha: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cv-repo-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try config.write(toFile: dir + "/.conveyor.yml", atomically: true, encoding: .utf8)
        func git(_ args: String...) throws -> String { try PipelineTests.git(dir, args) }
        _ = try git("init", "-q", "-b", "main")
        _ = try git("add", ".")
        _ = try git("commit", "-qm", "config")
        return ("file://" + dir, try git("rev-parse", "HEAD"))
    }

    static func request(_ context: NodeContext, url: String, sha: String, owner: String = "octo") async throws -> Int64 {
        let ownerID = try await context.postgres.query("INSERT INTO owners (login, concurrency_limit) VALUES ($1, 2) RETURNING id", [.text(owner)]).first!["id"].int64!
        let repoID = try await context.postgres.query("INSERT INTO repositories (owner_id, slug, url) VALUES ($1, $2, $3) RETURNING id",
                                                      [.int(ownerID), .text("\(owner)/app"), .text(url)]).first!["id"].int64!
        let requestID = try await context.postgres.query("""
            INSERT INTO requests (repository_id, event_type, branch, sha, commit_message) VALUES ($1, 'push', 'main', $2, 'test') RETURNING id
            """, [.int(repoID), .text(sha)]).first!["id"].int64!
        try await context.redis.xadd(context.keys.requests, fields: [("request", RedisArgument(requestID))])
        return requestID
    }

    @Test func aPushBecomesAFinishedBuildWithItsLog() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("cv-work-\(UUID().uuidString.prefix(8))").path
        let context = try await TestEnvironment.context { $0.workDirectory = work; $0.workerSlots = 2; $0.aggregationDelaySeconds = 1 }
        let second = try await TestEnvironment.sibling(of: context)
        let repo = try Self.makeRepository("""
            language: shell
            env:
              jobs:
                - WHO=first
                - WHO=second
            jobs:
              allow_failures:
                - env: WHO=second
            script:
              - echo "hello $WHO"
              - test "$WHO" = first
            """)
        let requestID = try await Self.request(context, url: repo.url, sha: repo.sha)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await GatekeeperService(context: context).run() }
            group.addTask { try await GatekeeperService(context: second).run() }
            group.addTask { try await SchedulerService(context: context).run() }
            group.addTask { try await WorkerService(context: context).run() }
            group.addTask { try await HubService(context: context).run() }
            group.addTask { try await LogsService(context: context, archive: nil).run() }

            let finished = try await eventually(timeout: .seconds(120)) {
                let row = try await context.postgres.query("SELECT b.state FROM builds b WHERE b.request_id = $1", [.int(requestID)]).first
                return ["passed", "failed", "errored", "canceled"].contains(row?["state"].string ?? "")
            }
            #expect(finished, "the build did not finish")
            let build = try await context.postgres.query("SELECT id, state FROM builds WHERE request_id = $1", [.int(requestID)]).first!
            #expect(build["state"].string == "passed", "allow_failure job must not decide the result")
            let jobs = try await context.postgres.query("SELECT id, number, state FROM jobs WHERE build_id = $1 ORDER BY position", [.int(build["id"].int64!)])
            #expect(jobs.rows.map { $0["state"].string ?? "" } == ["passed", "failed"])
            let firstJob = jobs.rows[0]["id"].int64!
            let hasLog = try await eventually(timeout: .seconds(30)) {
                let snapshot = try await LogStore(context: context, archive: nil).read(job: firstJob)
                return snapshot?.final == true && snapshot?.text.contains("hello first") == true
            }
            #expect(hasLog, "job log incomplete")
            // The hub publishes a batch's events after its transaction commits: the state can be
            // read in Postgres a moment before `build:finished` is on the stream.
            func finishedEvents() async throws -> Int {
                let events = try await context.redis.send(["XRANGE", RedisArgument(context.keys.events), "-", "+"]).array ?? []
                return events.filter { StreamEntryText.type(of: $0) == "build:finished" }.count
            }
            let published = try await eventually(timeout: .seconds(30)) { try await finishedEvents() > 0 }
            #expect(published, "no build:finished on the events stream")
            #expect(try await finishedEvents() == 1, "exactly one build:finished")
            group.cancelAll()
        }
        await second.close()
        await context.close()
    }
}

enum StreamEntryText {
    static func type(of entry: RedisValue) -> String? {
        guard let parts = entry.array, parts.count == 2, let fields = parts[1].array else { return nil }
        var i = 0
        while i + 1 < fields.count {
            if fields[i].string == "type" { return fields[i + 1].string }
            i += 2
        }
        return nil
    }
}
