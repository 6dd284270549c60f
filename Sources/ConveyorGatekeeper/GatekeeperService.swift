import ConveyorCore
import ConveyorModel
import ConveyorRedis
import ConveyorSecrets
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// The gatekeeper role: turns build requests (`cv:requests`) into builds and jobs, or into a
/// rejection with a reason. At-least-once and idempotent on the request id.
public struct GatekeeperService: Service {
    let context: NodeContext
    let fetcher: ConfigFetcher
    let queues: QueueRules
    let writer: BuildWriter
    /// Settings env vars; secret ones are copied into jobs still sealed, so no key is needed here.
    let envVars: EnvVarStore

    public init(context: NodeContext) throws {
        self.context = context
        fetcher = ConfigFetcher(cacheDirectory: context.settings.workDirectory + "/config-cache")
        queues = try Self.loadQueueRules(path: context.settings.queuesFile)
        writer = BuildWriter(postgres: context.postgres)
        envVars = EnvVarStore(postgres: context.postgres, keyring: Keyring(current: nil))
    }

    static func loadQueueRules(path: String) throws -> QueueRules {
        guard FileManager.default.fileExists(atPath: path) else { return .default }
        return try QueueRules.parse(yaml: try String(contentsOfFile: path, encoding: .utf8))
    }

    public func run() async throws {
        let consumer = StreamConsumer(context: context, streams: [context.keys.requests], group: Groups.gatekeeper, batchSize: 32) { batch in
            try await handleConcurrently(batch)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await consumer.run() }
            group.addTask { await sweepStrandedRequests() }
            try await group.waitForAll()
        }
    }

    /// Requests are independent (builds of one repository serialize on its row lock when numbered),
    /// so a batch is handled a few at a time: most of a request's time is waiting on `git` and
    /// Postgres. A request that fails stays pending for a retry; the others are acknowledged.
    func handleConcurrently(_ batch: [(stream: String, entry: StreamEntry)]) async throws -> [(stream: String, id: String)] {
        let width = 4
        return await withTaskGroup(of: (stream: String, id: String)?.self) { group in
            var done: [(stream: String, id: String)] = []
            for (index, item) in batch.enumerated() {
                if index >= width, let finished = await group.next(), let finished { done.append(finished) }
                group.addTask {
                    guard let requestID = item.entry.string("request").flatMap({ Int64($0) }) else {
                        context.logger.warning("dropping malformed request entry", metadata: ["id": "\(item.entry.id)"])
                        return (item.stream, item.entry.id)
                    }
                    do {
                        try await attempt(requestID: requestID)
                        return (item.stream, item.entry.id)
                    } catch {
                        context.logger.warning("build request failed; it stays pending", metadata: ["request": "\(requestID)", "error": "\(error)"])
                        return nil
                    }
                }
            }
            for await finished in group { if let finished { done.append(finished) } }
            return done
        }
    }

    /// Requests stored but never streamed (Redis was unreachable at intake) are picked up here.
    func sweepStrandedRequests() async {
        let every = Duration.seconds(max(5, context.settings.sweepIntervalSeconds * 2))
        await RoleRunner("request sweep", logger: context.logger, every: every, waitFirst: true).run {
            let stranded = try await context.postgres.query("""
                SELECT id FROM requests WHERE state = 'pending' AND created_at < now() - interval '30 seconds' ORDER BY id LIMIT 100
                """)
            for row in stranded.rows {
                guard let id = row["id"].int64 else { continue }
                do {
                    try await attempt(requestID: id)
                } catch {
                    context.logger.warning("stranded request failed again", metadata: ["request": "\(id)", "error": "\(error)"])
                }
            }
        }
    }

    /// Attempts a request gets (from the stream or the sweep) before it is errored with its last failure.
    static let maxRequestAttempts = 3

    /// Counts the attempt, gives up (errored, with the last failure) past `maxRequestAttempts`, else
    /// handles the request, recording a failure for the next attempt to report.
    func attempt(requestID: Int64) async throws {
        guard let row = try await context.postgres.query("""
            UPDATE requests SET attempts = attempts + 1 WHERE id = $1 AND state = 'pending' RETURNING attempts, last_error
            """, [.int(requestID)]).first else { return }
        let attempts = row["attempts"].int ?? 1
        if attempts > Self.maxRequestAttempts {
            let last = row["last_error"].string ?? "unknown error"
            try await writer.finish(request: requestID, state: "errored",
                                    message: "gave up after \(Self.maxRequestAttempts) attempts; the last one failed with: \(last)")
            return
        }
        do {
            try await handle(requestID: requestID)
        } catch {
            _ = try? await context.postgres.query("UPDATE requests SET last_error = $2 WHERE id = $1",
                                                  [.int(requestID), .text(String("\(error)".prefix(2000)))])
            throw error
        }
    }

    /// Processes one request; safe to call again for the same id.
    public func handle(requestID: Int64) async throws {
        let outcomes = Counter(label: "conveyor_requests_total", dimensions: [("outcome", "handled")])
        guard let request = try await BuildRequest.load(requestID, from: context.postgres), request.state == "pending" else { return }
        outcomes.increment()
        if let turnedOff = request.turnedOff {
            try await writer.finish(request: request.id, state: "rejected", message: turnedOff)
            return
        }
        let fetched: ConfigFetcher.Fetched?
        do {
            fetched = try await fetcher.fetch(url: request.repoURL, sha: request.sha, branch: request.branch)
        } catch let error as ConfigFetcher.FetchError {
            try await writer.finish(request: request.id, state: "errored", message: "could not fetch the config: \(error.description)")
            return
        }
        guard let fetched else {
            try await writer.finish(request: request.id, state: "rejected", message: "no .conveyor.yml or .travis.yml at commit \(request.sha)")
            return
        }
        var limits = ConfigLimits()
        limits.maxJobs = context.settings.maxJobsPerBuild
        let budget = context.settings.configEvalTimeoutSeconds
        let settingsEnv = try await envVars.forBuild(repository: request.repositoryID, branch: request.branch)
        var evaluationContext = request.context
        // Conditions (`env(NAME)`) see the repository's public settings variables; secret ones stay
        // sealed until the worker opens them, so conditions can't read them (docs/travis-compat.md).
        evaluationContext.settingsEnv = settingsEnv.filter { $0.sealed == nil }
        let evaluated = await ConfigEvaluator.run(budget: .seconds(budget)) { [limits, request, evaluationContext] () -> Result<ExpandedBuild, ConfigError> in
            Result { () throws(ConfigError) -> ExpandedBuild in
                // `secure:` values stay ciphertext in the jobs: only the worker decrypts, just before the job runs.
                try ConfigExpander.expand(yamlData: fetched.bytes, context: evaluationContext, limits: limits,
                                          keepSecureValuesSealed: true, overrides: request.configOverride)
            }
        }
        var expanded: ExpandedBuild
        switch evaluated {
        case nil:
            // Running it again would take as long: errored, acknowledged, never retried.
            try await writer.finish(request: request.id, state: "errored",
                                    message: "\(fetched.fileName): config evaluation took too long (more than \(budget) s, config_eval_timeout)")
            return
        case .failure(let error)?:
            try await writer.finish(request: request.id, state: "rejected", message: "\(fetched.fileName): \(error.description)")
            return
        case .success(let build)?:
            expanded = build
        }
        if let skipped = expanded.skipped {
            try await writer.finish(request: request.id, state: "skipped", message: skipped, warnings: expanded.warnings)
            return
        }
        if expanded.jobs.isEmpty {
            let why = expanded.noJobsReason ?? "all filtered out by conditions or excludes"
            try await writer.finish(request: request.id, state: "rejected", message: "the config expands to no jobs: \(why)",
                                    warnings: expanded.warnings)
            return
        }
        expanded.jobs = SealedEnv.prepare(expanded.jobs, settingsEnv: settingsEnv,
                                          origin: request.origin)
        let configJSON = expanded.storedJSON().jsonText()
        guard let build = try await writer.create(request: request, expanded: expanded, configJSON: configJSON, queues: queues) else { return }
        try await admitFirstStage(request: request, build: build)
        do {
            try await AutoCancel(context: context).supersede(by: build, of: request)
        } catch {
            // The new build stands either way; an older one left running is only wasted work.
            context.logger.warning("auto-cancel failed", metadata: ["build": "\(build.id)", "error": "\(error)"])
        }
        try await context.events.publish(type: "build:created", data: [
            "build": .int(build.id), "number": .int(Int64(build.number)), "repo": .string(request.repoSlug),
            "state": .string("created"), "jobs": .int(Int64(build.jobs.count)), "at": .int(nowMillis()),
        ])
        context.logger.info("build created", metadata: ["repo": "\(request.repoSlug)", "build": "\(build.number)", "jobs": "\(build.jobs.count)"])
    }

    /// Caches the owner's limits in Redis and puts the first stage's jobs in its waiting set.
    func admitFirstStage(request: BuildRequest, build: BuildWriter.CreatedBuild) async throws {
        let queueLimits = (try? JSONDecoder().decode([String: Int].self, from: Data(request.queueLimits.utf8))) ?? [:]
        var repoLimits: [String: Int] = [:]
        if let limit = request.repoLimit { repoLimits[request.repoSlug] = limit }
        try await context.slots.setLimits(owner: request.ownerLogin, max: request.ownerLimit ?? context.settings.defaultOwnerLimit,
                                          repoLimits: repoLimits, queueLimits: queueLimits)
        let firstStage = build.jobs.map(\.stageIndex).min() ?? 0
        let waiting = build.jobs.filter { $0.stageIndex == firstStage }.map {
            SlotBook.WaitingJob(job: $0.id, repo: request.repoSlug, queue: $0.queue, createdMillis: $0.createdMillis)
        }
        try await context.slots.enqueue(owner: request.ownerLogin, jobs: waiting)
    }
}
