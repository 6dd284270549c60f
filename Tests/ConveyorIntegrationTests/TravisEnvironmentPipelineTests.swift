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

/// Builds that print their environment, through the whole pipeline on real servers: a push, a tag, a pull
/// request from a fork (checked out as its merge result) and an API build each see travis-build's
/// variables. And a newer push supersedes the older build of its branch.
@Suite struct TravisEnvironmentPipelineTests {
    /// A repository with the config on main, a `feature` branch, and GitHub's refs for pull request 7.
    static func makeRepository() throws -> (url: String, main: String, feature: String, merge: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cv-env-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
            language: shell
            unknown_setting: true
            env:
              global:
                FIRST: one
                SECOND: $FIRST-two
            script:
              - env | grep -E '^(TRAVIS|CONVEYOR|CI|CONTINUOUS|HOME|USER|LANG|FIRST|SECOND)' | sort
              - ls
            """.write(toFile: dir + "/.conveyor.yml", atomically: true, encoding: .utf8)
        func git(_ args: String...) throws -> String { try PipelineTests.git(dir, args) }
        _ = try git("init", "-q", "-b", "main")
        _ = try git("add", ".")
        _ = try git("commit", "-qm", "config")
        _ = try git("checkout", "-q", "-b", "feature")
        try "from the fork\n".write(toFile: dir + "/fork.txt", atomically: true, encoding: .utf8)
        _ = try git("add", "fork.txt")
        _ = try git("commit", "-qm", "fork change")
        let feature = try git("rev-parse", "HEAD")
        _ = try git("update-ref", "refs/pull/7/head", feature)
        _ = try git("checkout", "-q", "main")
        try "on main\n".write(toFile: dir + "/main.txt", atomically: true, encoding: .utf8)
        _ = try git("add", "main.txt")
        _ = try git("commit", "-qm", "main change")
        let main = try git("rev-parse", "HEAD")
        _ = try git("merge", "-q", "--no-ff", "-m", "Merge feature", "feature")
        let merge = try git("rev-parse", "HEAD")
        _ = try git("tag", "v1.0", main)
        _ = try git("update-ref", "refs/pull/7/merge", merge)
        _ = try git("reset", "-q", "--hard", main)
        return ("file://" + dir, main, feature, merge)
    }

    struct Request {
        var event: String
        var branch: String
        var sha: String
        var tag: String?
        var pullRequest: Int?
        var payload = "{}"
    }

    static func repository(_ context: NodeContext, url: String) async throws -> Int64 {
        let ownerID = try await context.postgres.query("INSERT INTO owners (login, concurrency_limit) VALUES ('octo', 4) RETURNING id").first!["id"].int64!
        return try await context.postgres.query("INSERT INTO repositories (owner_id, slug, url) VALUES ($1, 'octo/app', $2) RETURNING id",
                                                [.int(ownerID), .text(url)]).first!["id"].int64!
    }

    static func submit(_ context: NodeContext, repo: Int64, _ request: Request) async throws -> Int64 {
        let id = try await context.postgres.query("""
            INSERT INTO requests (repository_id, event_type, branch, sha, tag, pull_request, payload, commit_message)
            VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, 'the message') RETURNING id
            """, [.int(repo), .text(request.event), .text(request.branch), .text(request.sha), .optional(request.tag),
                  .optional(request.pullRequest), .text(request.payload)]).first!["id"].int64!
        try await context.redis.xadd(context.keys.requests, fields: [("request", RedisArgument(id))])
        return id
    }

    /// The finished build's job: its id, state, and its log's `NAME=value` lines.
    static func finishedJob(_ context: NodeContext, request: Int64) async throws -> (id: Int64, state: String, env: [String: String], log: String) {
        let finished = try await eventually(timeout: .seconds(180)) {
            let row = try await context.postgres.query("SELECT state FROM builds WHERE request_id = $1", [.int(request)]).first
            return ["passed", "failed", "errored", "canceled"].contains(row?["state"].string ?? "")
        }
        let outcome = try await context.postgres.query("SELECT state, result_message FROM requests WHERE id = $1", [.int(request)]).first
        #expect(finished, "the build of request \(request) did not finish: \(outcome?["state"].string ?? "") \(outcome?["result_message"].string ?? "")")
        guard let job = try await context.postgres.query("""
            SELECT j.id, j.state FROM jobs j JOIN builds b ON b.id = j.build_id WHERE b.request_id = $1 ORDER BY j.position LIMIT 1
            """, [.int(request)]).first else { return (0, "none", [:], "") }
        let id = job["id"].int64!
        var text = ""
        _ = try await eventually(timeout: .seconds(30)) {
            let snapshot = try await LogStore(context: context, archive: nil).read(job: id)
            text = snapshot?.text ?? ""
            return snapshot?.final == true
        }
        var env: [String: String] = [:]
        for raw in text.split(separator: "\n") {
            // A command's first output line follows its timing marker.
            let line = raw.range(of: "\u{1B}[0K", options: .backwards).map { raw[$0.upperBound...] } ?? raw
            guard let equals = line.firstIndex(of: "="), line[..<equals].allSatisfy({ $0 == "_" || $0.isUppercase || $0.isNumber }) else { continue }
            env[String(line[..<equals])] = String(line[line.index(after: equals)...])
        }
        return (id, job["state"].string ?? "", env, text)
    }

    @Test func buildsSeeTravisVariablesForPushTagForkPullRequestAndAPI() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("cv-work-\(UUID().uuidString.prefix(8))").path
        let context = try await TestEnvironment.context {
            $0.workDirectory = work
            $0.workerSlots = 2
            $0.aggregationDelaySeconds = 1
            $0.publicURL = "https://ci.example"
        }
        let git = try Self.makeRepository()
        let repo = try await Self.repository(context, url: git.url)
        let forkPayload = """
            {"number": 7, "pull_request": {"mergeable": true,
              "head": {"ref": "feature", "sha": "\(git.feature)", "repo": {"full_name": "someone/app"}},
              "base": {"ref": "main", "sha": "\(git.main)", "repo": {"full_name": "octo/app"}}}}
            """
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await GatekeeperService(context: context).run() }
            group.addTask { try await SchedulerService(context: context).run() }
            group.addTask { try await WorkerService(context: context).run() }
            group.addTask { try await HubService(context: context).run() }
            group.addTask { try await LogsService(context: context, archive: nil).run() }

            // One at a time: each build is checked as it finishes.
            let push = try await Self.submit(context, repo: repo, Request(event: "push", branch: "main", sha: git.main,
                                                                           payload: #"{"before": "0000000000000000000000000000000000000000"}"#))
            let pushed = try await Self.finishedJob(context, request: push)
            #expect(pushed.state == "passed", "\(pushed.log)")
            let p = pushed.env
            #expect(p["TRAVIS_EVENT_TYPE"] == "push" && p["TRAVIS_BRANCH"] == "main" && p["TRAVIS_TAG"] == "")
            #expect(p["TRAVIS_PULL_REQUEST"] == "false" && p["TRAVIS_PULL_REQUEST_BRANCH"] == "" && p["TRAVIS_PULL_REQUEST_SLUG"] == "")
            #expect(p["TRAVIS_COMMIT"] == git.main && p["CONVEYOR_COMMIT"] == git.main)
            #expect(p["TRAVIS_COMMIT_MESSAGE"] == "the message" && p["TRAVIS_COMMIT_RANGE"] == "")
            #expect(p["TRAVIS_REPO_SLUG"] == "octo/app" && p["TRAVIS_OS_NAME"] == "linux" && p["TRAVIS_DIST"] == "xenial")
            #expect(p["TRAVIS_CPU_ARCH"] == "amd64" && p["TRAVIS_SECURE_ENV_VARS"] == "false" && p["TRAVIS_ALLOW_FAILURE"] == "false")
            #expect(p["TRAVIS_JOB_ID"] == String(pushed.id) && p["CONVEYOR_JOB_ID"] == String(pushed.id))
            #expect(p["TRAVIS_JOB_NUMBER"]?.hasSuffix(".1") == true && p["TRAVIS_BUILD_NUMBER"].map { p["TRAVIS_JOB_NUMBER"] == "\($0).1" } == true)
            #expect(p["TRAVIS_JOB_WEB_URL"] == "https://ci.example/jobs/\(pushed.id)")
            #expect(p["TRAVIS_BUILD_WEB_URL"] == "https://ci.example/builds/\(p["TRAVIS_BUILD_ID"] ?? "?")")
            #expect(p["TRAVIS_BUILD_DIR"]?.hasSuffix("/repo") == true && p["TRAVIS_BUILD_STAGE_NAME"] == "")
            #expect(p["CI"] == "true" && p["CONTINUOUS_INTEGRATION"] == "true" && p["TRAVIS"] == "true")
            #expect(p["HOME"] != nil && p["USER"] != nil && p["LANG"] != nil)
            #expect(p["FIRST"] == "one" && p["SECOND"] == "one-two", "env hash in written order")
            #expect(pushed.log.contains("main.txt") && !pushed.log.contains("fork.txt"))
            #expect(pushed.log.contains("Build config warnings:") && pushed.log.contains("unknown key unknown_setting ignored"),
                    "the config's warnings head every job's log")
            let warnings = try await context.postgres.query("SELECT warnings::text AS w FROM requests WHERE id = $1", [.int(push)]).first?["w"].string
            #expect(warnings?.contains("unknown key unknown_setting ignored") == true)

            let tag = try await Self.submit(context, repo: repo, Request(event: "push", branch: "v1.0", sha: git.main, tag: "v1.0"))
            let tagged = try await Self.finishedJob(context, request: tag)
            #expect(tagged.state == "passed", "\(tagged.log)")
            #expect(tagged.env["TRAVIS_TAG"] == "v1.0" && tagged.env["TRAVIS_BRANCH"] == "v1.0" && tagged.env["TRAVIS_EVENT_TYPE"] == "push")

            let pull = try await Self.submit(context, repo: repo, Request(event: "pull_request", branch: "main", sha: git.feature,
                                                                           pullRequest: 7, payload: forkPayload))
            let pulled = try await Self.finishedJob(context, request: pull)
            #expect(pulled.state == "passed", "\(pulled.log)")
            let r = pulled.env
            #expect(r["TRAVIS_EVENT_TYPE"] == "pull_request" && r["TRAVIS_PULL_REQUEST"] == "7" && r["TRAVIS_BRANCH"] == "main")
            #expect(r["TRAVIS_PULL_REQUEST_BRANCH"] == "feature" && r["TRAVIS_PULL_REQUEST_SHA"] == git.feature)
            #expect(r["TRAVIS_PULL_REQUEST_SLUG"] == "someone/app" && r["TRAVIS_SECURE_ENV_VARS"] == "false")
            #expect(r["TRAVIS_COMMIT"] == git.merge, "the merge result is what was built")
            #expect(r["TRAVIS_COMMIT_RANGE"] == "\(git.main)...\(git.feature)")
            #expect(pulled.log.contains("fork.txt") && pulled.log.contains("main.txt"), "both sides of the merge are checked out")
            #expect(pulled.log.contains("refs/pull/7/merge"))

            let api = try await Self.submit(context, repo: repo, Request(event: "api", branch: "main", sha: git.main))
            let triggered = try await Self.finishedJob(context, request: api)
            #expect(triggered.state == "passed", "\(triggered.log)")
            #expect(triggered.env["TRAVIS_EVENT_TYPE"] == "api" && triggered.env["TRAVIS_PULL_REQUEST"] == "false")
            #expect(triggered.env["TRAVIS_BRANCH"] == "main" && triggered.env["TRAVIS_COMMIT"] == git.main)
            group.cancelAll()
        }
        await context.close()
    }

    @Test func aNewPushSupersedesTheOlderBuildOfItsBranch() async throws {
        let context = try await TestEnvironment.context()
        let git = try Self.makeRepository()
        let repo = try await Self.repository(context, url: git.url)
        try await withThrowingTaskGroup(of: Void.self) { group in
            // No scheduler or worker: the first build's jobs stay waiting until superseded.
            group.addTask { try await GatekeeperService(context: context).run() }
            let first = try await Self.submit(context, repo: repo, Request(event: "push", branch: "main", sha: git.main))
            let created = try await eventually(timeout: .seconds(60)) {
                try await context.postgres.query("SELECT id FROM builds WHERE request_id = $1", [.int(first)]).first != nil
            }
            #expect(created)
            let other = try await Self.submit(context, repo: repo, Request(event: "push", branch: "feature", sha: git.feature))
            let second = try await Self.submit(context, repo: repo, Request(event: "push", branch: "main", sha: git.main))
            let superseded = try await eventually(timeout: .seconds(60)) {
                let rows = try await context.postgres.query("""
                    SELECT j.state, j.finished_reason FROM jobs j JOIN builds b ON b.id = j.build_id WHERE b.request_id = $1
                    """, [.int(first)]).rows
                return !rows.isEmpty && rows.allSatisfy { $0["state"].string == "canceled" }
            }
            #expect(superseded, "the older build of main was not canceled")
            let reason = try await context.postgres.query("""
                SELECT j.finished_reason, (SELECT number FROM builds WHERE request_id = $2) AS newer
                FROM jobs j JOIN builds b ON b.id = j.build_id WHERE b.request_id = $1 LIMIT 1
                """, [.int(first), .int(second)]).first!
            #expect(reason["finished_reason"].string == "superseded by build #\(reason["newer"].int ?? 0)")
            let untouched = try await context.postgres.query("""
                SELECT j.state FROM jobs j JOIN builds b ON b.id = j.build_id WHERE b.request_id = ANY($1::bigint[])
                """, [.array([other, second])]).rows
            #expect(!untouched.isEmpty && untouched.allSatisfy { $0["state"].string != "canceled" }, "other branches and the newer build stay")
            group.cancelAll()
        }
        await context.close()
    }
}
