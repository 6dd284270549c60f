import ConveyorCore
import ConveyorGatekeeper
import ConveyorHTTPClient
import ConveyorHub
import ConveyorLogs
import ConveyorModel
import ConveyorRedis
import ConveyorScheduler
import ConveyorSecrets
import ConveyorTesting
import ConveyorWeb
import ConveyorWorker
import Foundation
import Synchronization
import Testing

/// Issue 21's round trip on real servers: the public key from the API; one value encrypted by
/// `conveyor encrypt`, one by `openssl pkeyutl`, one secret settings variable; a push whose build checks
/// them without printing them and whose log masks every echo (also one split across log parts); a
/// `secure:` webhook URL under `notifications:` that the hub opens only to send it, signed with the
/// repository's key (checked by `openssl`); a fork's pull request that gets none of them; settings
/// changes that take effect; and at the end a scan of every Redis key and stream, every PostgreSQL row, the API responses and the logs for any plain secret.
@Suite(.serialized) struct SecretsRoundTripTests {
    static let cliSecret = "alpha-CLI-4711"
    static let opensslSecret = "beta-ssl-0815"
    static let settingsSecret = "gamma-set-2342"
    /// In the path of a `secure:` webhook URL under `notifications:` (docs/notifications.md).
    static let hookSecret = "delta-hook-7781"
    static let token = "round-trip-token"
    static var secrets: [String] { [cliSecret, opensslSecret, settingsSecret, hookSecret] }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("cv-rt-\(UUID().uuidString.prefix(8))-\(name)").path
    }

    /// The API over real HTTP, collecting every response body for the final scan.
    final class API: Sendable {
        let base: String
        private let bodies = Mutex<[String]>([])

        init(port: Int) { base = "http://127.0.0.1:\(port)" }

        var responses: [String] { bodies.withLock { $0 } }

        func call(_ method: String, _ path: String, json: String? = nil, token: String? = SecretsRoundTripTests.token) async throws -> (status: Int, body: String) {
            var headers = [("Accept", "application/json")]
            if let token { headers.append(("Authorization", "Bearer \(token)")) }
            if json != nil { headers.append(("Content-Type", "application/json")) }
            let http = CurlHTTPClient(threads: 1)
            let response: HTTPResponse
            do {
                response = try await http.send(HTTPRequest(method: method, url: base + path, headers: headers, body: Array((json ?? "").utf8)))
            } catch {
                await http.shutdown()
                throw error
            }
            await http.shutdown()
            bodies.withLock { $0.append(response.bodyText) }
            return (response.status, response.bodyText)
        }

        func object(_ method: String, _ path: String, json: String? = nil) async throws -> [String: Any] {
            let (status, body) = try await call(method, path, json: json)
            guard (200..<300).contains(status), let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
                throw TestSetupError("\(method) \(path): HTTP \(status): \(body)")
            }
            return object
        }
    }

    static func git(_ dir: String, _ args: String...) throws -> String { try PipelineTests.git(dir, args) }

    static func sha256(_ text: String) async throws -> String {
        let file = temporary("plain"), log = temporary("sha")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let output = try await ChildProcess.run("/usr/bin/sha256sum", [file], log: log)
        return String(output.prefix(64))
    }

    /// `conveyor encrypt` as a user runs it (the binary `swift build` made).
    static func conveyorEncrypt(_ value: String, repo: String, api: API) async throws -> String {
        let binary = root.appendingPathComponent(".build/debug/conveyor").path
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw TestSetupError("\(binary) is missing: build it with `swift build --build-tests` before running this test")
        }
        let output = try await ChildProcess.run(binary, ["encrypt", value, "--repo", repo, "--api", api.base], log: temporary("encrypt"))
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("secure: \"") }) else {
            throw TestSetupError("conveyor encrypt printed no secure: line: \(output)")
        }
        return String(line.dropFirst("secure: \"".count).dropLast())
    }

    static func opensslEncrypt(_ value: String, publicKey: String) async throws -> String {
        let pem = temporary("pub.pem"), plain = temporary("plain"), out = temporary("cipher")
        try publicKey.write(toFile: pem, atomically: true, encoding: .utf8)
        try value.write(toFile: plain, atomically: true, encoding: .utf8)
        try await ChildProcess.run("/usr/bin/openssl", ["pkeyutl", "-encrypt", "-pubin", "-inkey", pem, "-pkeyopt", "rsa_padding_mode:pkcs1",
                                                        "-in", plain, "-out", out], log: temporary("openssl"))
        return try Data(contentsOf: URL(fileURLWithPath: out)).base64EncodedString()
    }

    static func config(cli: String, openssl: String, hashes: [String], hook: String) -> String {
        """
        language: shell
        notifications:
          email: false
          webhooks:
            - secure: "\(hook)"
        env:
          global:
            - secure: "\(cli)"
            - OPENSSL_SECRET: {secure: "\(openssl)"}
        script:
          - echo "secure=$TRAVIS_SECURE_ENV_VARS public=$PUBLIC_VAR"
          - 'if [ "$TRAVIS_SECURE_ENV_VARS" = true ]; then test "$(printf %s "$CLI_SECRET" | sha256sum | cut -c1-64)" = \(hashes[0]) && test "$(printf %s "$OPENSSL_SECRET" | sha256sum | cut -c1-64)" = \(hashes[1]) && test "$(printf %s "$SETTINGS_SECRET" | sha256sum | cut -c1-64)" = \(hashes[2]); else test -z "$CLI_SECRET$OPENSSL_SECRET$SETTINGS_SECRET"; fi'
          - echo "leak ${CLI_SECRET:-none} ${OPENSSL_SECRET:-none} ${SETTINGS_SECRET:-none}"
          - 'printf "split %s" "${CLI_SECRET%????}"; sleep 1; printf "%s end\\n" "${CLI_SECRET#${CLI_SECRET%????}}"'
        """
    }

    static func insertRequest(_ context: NodeContext, repoID: Int64, sha: String, event: String, payload: String = "{}") async throws -> Int64 {
        let id = try await context.postgres.query("""
            INSERT INTO requests (repository_id, event_type, branch, sha, commit_message, payload) VALUES ($1, $2, 'main', $3, 'test', $4::jsonb) RETURNING id
            """, [.int(repoID), .text(event), .text(sha), .text(payload)]).first!["id"].int64!
        try await context.redis.xadd(context.keys.requests, fields: [("request", RedisArgument(id))])
        return id
    }

    static func finishedBuild(_ context: NodeContext, request: Int64) async throws -> (id: Int64, state: String, job: Int64)? {
        guard let row = try await context.postgres.query("SELECT id, state FROM builds WHERE request_id = $1", [.int(request)]).first,
              ["passed", "failed", "errored", "canceled"].contains(row["state"].string ?? "") else { return nil }
        let job = try await context.postgres.query("SELECT id FROM jobs WHERE build_id = $1 ORDER BY position LIMIT 1", [.int(row["id"].int64!)]).first!
        return (row["id"].int64!, row["state"].string!, job["id"].int64!)
    }

    static func log(_ context: NodeContext, job: Int64) async throws -> String? {
        guard let snapshot = try await LogStore(context: context, archive: nil).read(job: job), snapshot.final else { return nil }
        return snapshot.text
    }

    @Test func secretsGoFromTheAPIToTheJobAndNowhereElse() async throws {
        let work = Self.temporary("work")
        let port = try freeLoopbackPort()
        let context = try await TestEnvironment.context {
            $0.workDirectory = work
            $0.workerSlots = 2
            $0.aggregationDelaySeconds = 1
            $0.secretsKey = ClusterKey.generate()
            $0.apiToken = Self.token
            $0.httpHost = "127.0.0.1"
            $0.httpPort = port
        }
        let owner = try await context.postgres.query("INSERT INTO owners (login, concurrency_limit) VALUES ('octo', 4) RETURNING id").first!["id"].int64!
        let dir = Self.temporary("repo")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let repoID = try await context.postgres.query("INSERT INTO repositories (owner_id, slug, url) VALUES ($1, 'octo/app', $2) RETURNING id",
                                                      [.int(owner), .text("file://" + dir)]).first!["id"].int64!
        let api = API(port: port)
        // The hub's notifications: a `secure:` webhook URL whose path is a secret, to a local receiver.
        let receiver = try HTTPReceiver()
        defer { receiver.stop() }
        let hookPath = "/hook/\(Self.hookSecret)"
        let notifyHTTP = CurlHTTPClient()
        let notify = NotifyConfiguration(retryBaseSeconds: 0.2, sweepInterval: .milliseconds(100), requestTimeout: .seconds(5), claimSeconds: 10)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await WebService(context: context, logStore: LogStore(context: context, archive: nil), metricsText: { "" }).run() }
            group.addTask { try await GatekeeperService(context: context).run() }
            group.addTask { try await SchedulerService(context: context).run() }
            group.addTask { try await WorkerService(context: context).run() }
            group.addTask { try await HubService(context: context).run() }
            group.addTask { try await LogsService(context: context, archive: nil).run() }
            group.addTask { try await NotifyService(context: context, http: notifyHTTP, configuration: notify).run() }
            let up = try await eventually(timeout: .seconds(30)) { (try? await api.call("GET", "/api/v1/repos").status) == 200 }
            #expect(up, "the web role did not start")

            // 1. The public key, and the settings routes need the token.
            let key = try await api.object("GET", "/api/v1/repos/octo/app/key")
            let publicKey = try #require(key["public_key"] as? String)
            #expect(publicKey.hasPrefix("-----BEGIN PUBLIC KEY-----"))
            #expect((key["fingerprint"] as? String)?.split(separator: ":").count == 32)
            #expect(try await api.call("GET", "/api/v1/repos/octo/app/settings", token: nil).status == 401)
            #expect(try await api.call("POST", "/api/v1/repos/octo/app/env_vars", json: #"{"name":"X","value":"y"}"#, token: nil).status == 401)

            // 2. Encrypted by the CLI and by openssl; a secret and a public settings variable.
            let cli = try await Self.conveyorEncrypt("CLI_SECRET=\(Self.cliSecret)", repo: "octo/app", api: api)
            let openssl = try await Self.opensslEncrypt(Self.opensslSecret, publicKey: publicKey)
            _ = try await api.object("POST", "/api/v1/repos/octo/app/env_vars", json: #"{"name":"SETTINGS_SECRET","value":"\#(Self.settingsSecret)"}"#)
            let publicVar = try await api.object("POST", "/api/v1/repos/octo/app/env_vars", json: #"{"name":"PUBLIC_VAR","value":"one","public":true}"#)
            let listed = try await api.object("GET", "/api/v1/repos/octo/app/env_vars")["env_vars"] as? [[String: Any]] ?? []
            #expect(listed.map { $0["name"] as? String } == ["PUBLIC_VAR", "SETTINGS_SECRET"])
            #expect(listed.first { $0["name"] as? String == "SETTINGS_SECRET" }?["value"] == nil, "a secret value is never returned")
            #expect(try await api.call("POST", "/api/v1/repos/octo/app/env_vars", json: #"{"name":"1BAD","value":"y"}"#).status == 400)

            // 3. A push: the build checks the values (by hash) and masks every echo.
            var hashes: [String] = []
            for secret in Self.secrets { hashes.append(try await Self.sha256(secret)) }
            let hook = try await Self.opensslEncrypt(receiver.url + hookPath, publicKey: publicKey)
            try Self.config(cli: cli, openssl: openssl, hashes: hashes, hook: hook).write(toFile: dir + "/.conveyor.yml", atomically: true, encoding: .utf8)
            _ = try Self.git(dir, "init", "-q", "-b", "main")
            _ = try Self.git(dir, "add", ".")
            _ = try Self.git(dir, "commit", "-qm", "config")
            let sha = try Self.git(dir, "rev-parse", "HEAD")
            let push = try await Self.insertRequest(context, repoID: repoID, sha: sha, event: "push")
            var pushBuild: (id: Int64, state: String, job: Int64)?
            _ = try await eventually(timeout: .seconds(120)) { pushBuild = try await Self.finishedBuild(context, request: push); return pushBuild != nil }
            let built = try #require(pushBuild, "the push build did not finish")
            var pushLog: String?
            _ = try await eventually(timeout: .seconds(30)) { pushLog = try await Self.log(context, job: built.job); return pushLog != nil }
            let log = try #require(pushLog)
            #expect(built.state == "passed", "the job did not get its secrets: \(log)")
            #expect(log.contains("secure=true public=one"))
            #expect(log.contains("leak [secure] [secure] [secure]"))
            #expect(log.contains("split [secure] end"), "a value split across log parts must be masked")
            #expect(log.contains("$ export OPENSSL_SECRET=[secure]") && log.contains("$ export SETTINGS_SECRET=[secure]"))
            // The hub opened the secure webhook URL only to send; the Signature checks with the API's key.
            #expect(try await eventually(timeout: .seconds(30)) { receiver.requests(path: hookPath).count == 1 }, "the secure webhook was not delivered")
            let delivered = try #require(receiver.requests(path: hookPath).first)
            let hookPayload = String(delivered.bodyText.dropFirst("payload=".count)).removingPercentEncoding ?? ""
            let hookJSON = try JSONSerialization.jsonObject(with: Data(hookPayload.utf8)) as? [String: Any]
            #expect((hookJSON?["id"] as? NSNumber)?.int64Value == built.id)
            #expect(try await opensslVerifiesTravisSignature(payload: hookPayload, signature: delivered.headers["signature"] ?? "", publicKeyPEM: publicKey))

            // 4. Settings take effect: pull requests off, then the limit reaches Redis at once.
            let off = try await api.object("PATCH", "/api/v1/repos/octo/app/settings", json: #"{"build_pull_requests": false, "max_concurrent_jobs": 1}"#)
            #expect(off["build_pull_requests"] as? Bool == false)
            let limit = try await context.redis.send(["HGET", RedisArgument(context.keys.limits("octo")), "repo:octo/app"]).string
            #expect(limit == "1")
            #expect(try await api.call("PATCH", "/api/v1/repos/octo/app/settings", json: #"{"max_jobs": 3}"#).status == 400)
            let forkPayload = #"{"pull_request": {"head": {"repo": {"full_name": "mallory/app"}}, "base": {"repo": {"full_name": "octo/app"}}}}"#
            let refused = try await Self.insertRequest(context, repoID: repoID, sha: sha, event: "pull_request", payload: forkPayload)
            let rejected = try await eventually(timeout: .seconds(30)) {
                try await context.postgres.query("SELECT state FROM requests WHERE id = $1", [.int(refused)]).first?["state"].string == "rejected"
            }
            #expect(rejected, "a pull request must be turned away while build_pull_requests is false")
            _ = try await api.object("PATCH", "/api/v1/repos/octo/app/settings", json: #"{"build_pull_requests": true, "max_concurrent_jobs": null}"#)
            #expect(try await context.redis.send(["HGET", RedisArgument(context.keys.limits("octo")), "repo:octo/app"]).isNull)
            let publicID = try #require((publicVar["env_var"] as? [String: Any])?["id"] as? Int)
            _ = try await api.object("PATCH", "/api/v1/repos/octo/app/env_vars/\(publicID)", json: #"{"value": "two"}"#)

            // 5. A fork's pull request: no secrets at all, and the log says why.
            let fork = try await Self.insertRequest(context, repoID: repoID, sha: sha, event: "pull_request", payload: forkPayload)
            var forkBuild: (id: Int64, state: String, job: Int64)?
            _ = try await eventually(timeout: .seconds(120)) { forkBuild = try await Self.finishedBuild(context, request: fork); return forkBuild != nil }
            let forked = try #require(forkBuild, "the fork's build did not finish")
            var forkLog: String?
            _ = try await eventually(timeout: .seconds(30)) { forkLog = try await Self.log(context, job: forked.job); return forkLog != nil }
            let flog = try #require(forkLog)
            #expect(forked.state == "passed", "the fork's job must see no secret: \(flog)")
            #expect(flog.contains("this pull request comes from a fork (mallory/app)"))
            #expect(flog.contains("secure=false public=two"), "public settings vars still apply, changed for the next build")
            #expect(flog.contains("leak none none none"))
            let forkConfig = try await context.postgres.query("SELECT config::text AS c FROM jobs WHERE id = $1", [.int(forked.job)]).first!["c"].string ?? ""
            #expect(!forkConfig.contains("\"sealed\""), "a fork's job row carries no sealed value")
            // The fork's build notifies no secure target: recorded as withheld, never sent.
            let withheld = try await eventually(timeout: .seconds(30)) {
                try await context.postgres.query("SELECT state, last_error FROM deliveries WHERE build_id = $1 AND kind = 'travis_webhook'",
                                                 [.int(forked.id)]).first.map { $0["state"].string == "withheld" && ($0["last_error"].string ?? "").contains("fork (mallory/app)") } ?? false
            }
            #expect(withheld, "the fork's secure webhook must be recorded as withheld")
            #expect(receiver.requests(path: hookPath).count == 1)

            // 6. The scan: nothing holds a plain secret.
            for job in [built.job, forked.job] {
                _ = try await api.call("GET", "/api/v1/jobs/\(job)")
                _ = try await api.call("GET", "/api/v1/jobs/\(job)/log")
            }
            _ = try await api.call("GET", "/api/v1/builds/\(built.id)")
            for build in [built.id, forked.id] { _ = try await api.object("GET", "/api/v1/builds/\(build)/notifications") }
            _ = try await api.call("GET", "/api/v1/repos/octo/app/settings")
            var found: [String] = []
            for secret in Self.secrets {
                for body in api.responses where body.contains(secret) { found.append("API response holds \(secret)") }
                if log.contains(secret) || flog.contains(secret) { found.append("a log holds \(secret)") }
            }
            found += try await Self.redisHolding(Self.secrets, context: context)
            found += try await Self.postgresHolding(Self.secrets, context: context)
            #expect(found.isEmpty, "plain secrets found: \(found)")
            group.cancelAll()
        }
        await notifyHTTP.shutdown()
        await context.close()
    }

    /// Every key under the test's prefix, whatever its type, read whole.
    static func redisHolding(_ secrets: [String], context: NodeContext) async throws -> [String] {
        var found: [String] = []
        var cursor = "0"
        var keys: [String] = []
        repeat {
            let reply = try await context.redis.send(["SCAN", RedisArgument(cursor), "MATCH", RedisArgument(context.settings.keyPrefix + ":*"), "COUNT", "500"])
            let parts = reply.array ?? []
            cursor = parts.first?.string ?? "0"
            keys += (parts.count > 1 ? parts[1].array ?? [] : []).compactMap(\.string)
        } while cursor != "0"
        #expect(!keys.isEmpty, "the scan found no key at all")
        for key in keys {
            let type = try await context.redis.send(["TYPE", RedisArgument(key)]).string ?? ""
            let command: [String] = switch type {
            case "string": ["GET", key]
            case "hash": ["HGETALL", key]
            case "list": ["LRANGE", key, "0", "-1"]
            case "set": ["SMEMBERS", key]
            case "zset": ["ZRANGE", key, "0", "-1", "WITHSCORES"]
            case "stream": ["XRANGE", key, "-", "+"]
            default: []
            }
            guard !command.isEmpty else { continue }
            let text = flatten(try await context.redis.send(command.map { RedisArgument($0) })).joined(separator: "\n")
            for secret in secrets where text.contains(secret) { found.append("Redis \(type) \(key) holds \(secret)") }
        }
        return found
    }

    static func flatten(_ value: RedisValue) -> [String] {
        if let items = value.array { return items.flatMap(flatten) }
        return value.string.map { [$0] } ?? []
    }

    /// Every row of every table, as text.
    static func postgresHolding(_ secrets: [String], context: NodeContext) async throws -> [String] {
        var found: [String] = []
        let tables = try await context.postgres.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").rows.compactMap { $0["tablename"].string }
        #expect(tables.contains("repository_env_vars") && tables.contains("jobs"))
        for table in tables {
            for row in try await context.postgres.query("SELECT t::text AS row FROM \"\(table)\" t").rows {
                let text = row["row"].string ?? ""
                for secret in secrets where text.contains(secret) { found.append("PostgreSQL \(table) holds \(secret)") }
            }
        }
        return found
    }
}
