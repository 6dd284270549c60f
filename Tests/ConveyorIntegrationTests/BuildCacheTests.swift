import ConveyorCache
import ConveyorCore
import ConveyorGatekeeper
import ConveyorHTTPClient
import ConveyorHub
import ConveyorLogs
import ConveyorRedis
import ConveyorScheduler
import ConveyorSSH
import ConveyorTesting
import ConveyorWeb
import ConveyorWorker
import Foundation
import Testing

/// Issue 22's build cache on real servers and the real sandbox (docs/cache.md), with each store: a first
/// build stores its cache (in `cache_dir` with nothing configured, or in S3 on moto), a second restores it (it sees the first one's file) and,
/// unchanged, uploads nothing; a build of another branch starts from the default branch's cache; the API
/// and `conveyor caches` list and delete them, archives included.
@Suite(.serialized) struct BuildCacheTests {
    static let token = SecretsRoundTripTests.token
    /// One client for the whole test process, never shut down (a failing test must not trip its check).
    static let http = CurlHTTPClient(threads: 2)

    /// Whether the archive of `key` exists in the store the settings name.
    static func archiveExists(_ settings: Settings, key: String) async throws -> Bool {
        let store = try #require(try CacheStore.make(settings: settings, http: http))
        switch store.backend {
        case .directory(let root): return FileManager.default.fileExists(atPath: "\(root)/\(key)")
        case .s3(let client): return try await client.head(key: "cache/\(key)") != nil
        }
    }

    static func request(_ context: NodeContext, repoID: Int64, branch: String, sha: String) async throws -> Int64 {
        let id = try await context.postgres.query("""
            INSERT INTO requests (repository_id, event_type, branch, sha, commit_message, payload)
            VALUES ($1, 'push', $2, $3, 'test', '{"repository": {"default_branch": "main"}}'::jsonb) RETURNING id
            """, [.int(repoID), .text(branch), .text(sha)]).first!["id"].int64!
        try await context.redis.xadd(context.keys.requests, fields: [("request", RedisArgument(id))])
        return id
    }

    /// Submits a push and waits for its build and its final log.
    static func build(_ context: NodeContext, repoID: Int64, branch: String, sha: String) async throws -> (state: String, log: String) {
        let request = try await request(context, repoID: repoID, branch: branch, sha: sha)
        var finished: (id: Int64, state: String, job: Int64)?
        _ = try await eventually(timeout: .seconds(120)) { finished = try await SecretsRoundTripTests.finishedBuild(context, request: request); return finished != nil }
        let build = try #require(finished, "the \(branch) build did not finish")
        var log: String?
        _ = try await eventually(timeout: .seconds(30)) { log = try await SecretsRoundTripTests.log(context, job: build.job); return log != nil }
        return (build.state, try #require(log, "the \(branch) build's log did not arrive"))
    }

    /// `conveyor caches …` as a user runs it (the binary `swift build` made); its JSON.
    static func cli(_ arguments: [String], api: String) async throws -> [String: Any] {
        let binary = SecretsRoundTripTests.root.appendingPathComponent(".build/debug/conveyor").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw TestSetupError("\(binary) is missing: build it with `swift build --build-tests` before running this test")
        }
        let output = try await ChildProcess.run(binary, ["caches"] + arguments + ["--api", api, "--token", token, "--json"],
                                                log: SecretsRoundTripTests.temporary("caches-cli"))
        return try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any], "not JSON: \(output)")
    }

    /// The loopback sshd of `scripts/test-servers.sh`, jobs running as `nobody` there.
    static func sshExecutor() throws -> SSHExecutor {
        let env = ProcessInfo.processInfo.environment
        guard let host = env["CONVEYOR_TEST_SSH_HOST"], let port = env["CONVEYOR_TEST_SSH_PORT"].flatMap({ Int($0) }), let user = env["CONVEYOR_TEST_SSH_USER"],
              let key = env["CONVEYOR_TEST_SSH_KEY"], let knownHosts = env["CONVEYOR_TEST_SSH_KNOWN_HOSTS"] else {
            throw TestSetupError("CONVEYOR_TEST_SSH_* are not set: run `scripts/test-servers.sh start` and `eval \"$(scripts/test-servers.sh env)\"` before `swift test`")
        }
        return SSHExecutor(target: SSHTarget(host: host, port: port, user: user, privateKeyPath: key, knownHostsPath: knownHosts, connectTimeout: .seconds(10)),
                           buildUser: "nobody")
    }

    /// `dir` and `s3` with the local executor (bubblewrap); `ssh`: the dir store with the ssh executor.
    @Test(arguments: ["dir", "s3", "ssh"]) func buildsStoreRestoreAndShareTheirCache(store kind: String) async throws {
        let work = SecretsRoundTripTests.temporary("work")
        let port = try freeLoopbackPort()
        let context = try await TestEnvironment.context {
            $0.workDirectory = work
            $0.workerSlots = 1
            $0.aggregationDelaySeconds = 1
            $0.apiToken = Self.token
            $0.httpHost = "127.0.0.1"
            $0.httpPort = port
            if kind == "s3" {
                $0.cacheStore = "s3"
                $0.s3Endpoint = ProcessInfo.processInfo.environment["CONVEYOR_TEST_S3_ENDPOINT"] ?? "http://127.0.0.1:9000"
                $0.s3Bucket = "cv-cache-\(UUID().uuidString.prefix(8).lowercased())"
                $0.s3AccessKey = "testing"
                $0.s3SecretKey = "testing"
            }
        }
        if kind != "s3" {
            #expect(context.settings.cacheStore == "dir" && context.settings.cacheDirectory == work + "/cache", "caching needs no configuration")
        } else {
            let store = try #require(try CacheStore.make(settings: context.settings, http: Self.http))
            guard case .s3(let client) = store.backend else {
                Issue.record("cache_store s3 made a \(store.kind) store")
                return
            }
            do {
                try await client.createBucketIfMissing()
            } catch {
                throw TestSetupError("S3 server at \(context.settings.s3Endpoint ?? "") is not reachable (\(error)). Start it with: scripts/test-servers.sh start")
            }
        }
        let dir = SecretsRoundTripTests.temporary("repo")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
            language: shell
            cache:
              directories:
                - deps
                - $HOME/.cache/cv
            before_cache:
              - rm -f deps/scratch
            script:
              - 'if [ -f deps/stamp ]; then echo "restored: $(cat deps/stamp)"; else echo "written by $TRAVIS_BRANCH" > deps/stamp; echo fresh; fi'
              - 'if [ -f $HOME/.cache/cv/h ]; then echo "home-restored: $(cat $HOME/.cache/cv/h)"; else echo home > $HOME/.cache/cv/h; fi'
              - date > deps/scratch
            """.write(toFile: dir + "/.conveyor.yml", atomically: true, encoding: .utf8)
        _ = try PipelineTests.git(dir, ["init", "-q", "-b", "main"])
        _ = try PipelineTests.git(dir, ["add", "."])
        _ = try PipelineTests.git(dir, ["commit", "-qm", "config"])
        _ = try PipelineTests.git(dir, ["branch", "feature"])
        let sha = try PipelineTests.git(dir, ["rev-parse", "HEAD"])
        let owner = try await context.postgres.query("INSERT INTO owners (login, concurrency_limit) VALUES ('octo', 2) RETURNING id").first!["id"].int64!
        let repoID = try await context.postgres.query("INSERT INTO repositories (owner_id, slug, url) VALUES ($1, 'octo/app', $2) RETURNING id",
                                                      [.int(owner), .text("file://" + dir)]).first!["id"].int64!
        let api = SecretsRoundTripTests.API(port: port)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await WebService(context: context, logStore: LogStore(context: context, archive: nil), metricsText: { "" }, http: Self.http).run() }
            group.addTask { try await GatekeeperService(context: context).run() }
            group.addTask { try await SchedulerService(context: context).run() }
            let worker = kind == "ssh" ? WorkerService(context: context, executor: try Self.sshExecutor(), http: Self.http) : WorkerService(context: context, http: Self.http)
            group.addTask { try await worker.run() }
            group.addTask { try await HubService(context: context).run() }
            group.addTask { try await LogsService(context: context, archive: nil).run() }

            // 1. Nothing to fetch: the script writes deps/stamp, the cache is stored for main.
            let first = try await Self.build(context, repoID: repoID, branch: "main", sha: sha)
            #expect(first.state == "passed", "\(first.log)")
            #expect(first.log.contains("Setting up build cache") && first.log.contains("could not download cache"), "\(first.log)")
            #expect(first.log.contains("fresh"))
            #expect(first.log.contains("conveyor: stored the build cache main/cache-linux-"), "\(first.log)")
            let rows = try await context.postgres.query("SELECT branch, slug, size, store, storage_key FROM caches WHERE repository_id = $1", [.int(repoID)]).rows
            #expect(rows.map { $0["branch"].string } == ["main"])
            let key = try #require(rows.first?["storage_key"].string)
            #expect(rows.first?["store"].string == (kind == "s3" ? "s3" : "dir"))
            #expect(try await Self.archiveExists(context.settings, key: key))
            let stored = try await context.postgres.query("SELECT updated_at::text AS t FROM caches WHERE repository_id = $1", [.int(repoID)]).first?["t"].string

            // 2. Restored (the first build's file is there); before_cache removed the scratch file, so
            // nothing changed and nothing is uploaded.
            let second = try await Self.build(context, repoID: repoID, branch: "main", sha: sha)
            #expect(second.state == "passed", "\(second.log)")
            #expect(second.log.contains("found cache") && second.log.contains("restored: written by main"), "\(second.log)")
            #expect(second.log.contains("home-restored: home"), "a $HOME directory must be cached too: \(second.log)")
            #expect(second.log.contains("nothing changed, not updating cache"), "\(second.log)")
            #expect(!second.log.contains("stored the build cache"))
            let after = try await context.postgres.query("SELECT updated_at::text AS t FROM caches WHERE repository_id = $1", [.int(repoID)]).first?["t"].string
            #expect(after == stored, "an unchanged cache must not be uploaded again")

            // 3. A branch without a cache starts from the default branch's.
            let feature = try await Self.build(context, repoID: repoID, branch: "feature", sha: sha)
            #expect(feature.state == "passed", "\(feature.log)")
            #expect(feature.log.contains("fetching main/cache-linux-") && feature.log.contains("restored: written by main"), "\(feature.log)")

            // 4. The API and the CLI list and delete; the archive goes with the row.
            let listed = try await api.object("GET", "/api/v1/repos/octo/app/caches", json: nil)
            let caches = listed["caches"] as? [[String: Any]] ?? []
            #expect(caches.map { $0["branch"] as? String } == ["main"])
            #expect((caches.first?["size"] as? Int ?? 0) > 0 && (caches.first?["name"] as? String)?.hasPrefix("cache-linux-") == true)
            #expect((caches.first?["last_modified"] as? String)?.hasSuffix("Z") == true)
            let cliList = try await Self.cli(["list", "--repo", "octo/app", "--branch", "main"], api: api.base)
            #expect((cliList["caches"] as? [[String: Any]])?.count == 1)
            #expect(try await api.call("DELETE", "/api/v1/repos/octo/app/caches", token: nil).status == 401)
            let none = try await Self.cli(["delete", "--repo", "octo/app", "--branch", "feature"], api: api.base)
            #expect((none["caches"] as? [[String: Any]])?.isEmpty == true)
            let deleted = try await Self.cli(["delete", "--repo", "octo/app"], api: api.base)
            #expect((deleted["caches"] as? [[String: Any]])?.count == 1)
            #expect(try await !Self.archiveExists(context.settings, key: key), "the archive must be deleted with its row")
            #expect(try await context.postgres.query("SELECT count(*) AS n FROM caches").first?["n"].int == 0)
            group.cancelAll()
        }
        await context.close()
    }
}
