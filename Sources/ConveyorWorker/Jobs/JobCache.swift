import ConveyorCache
import ConveyorCore
import ConveyorModel
import Foundation

/// One attempt's build cache (docs/cache.md): before the script, the first archive found of the job's
/// branch, a pull request's base branch, or the default branch is placed in the job's directory; after
/// it, the archive the script left (only when its directories changed) is stored for the job's branch
/// and recorded. The worker moves bytes; packing and unpacking happen inside the sandbox. A failure
/// here is a line in the log, never the job's failure.
struct JobCache: Sendable {
    let store: CacheStore
    let records: CacheRecords
    let repository: Int64
    let slug: String
    /// A push's branch, or `PR.<n>` for a pull request.
    let storeBranch: String
    let fetchBranches: [String]
    /// Root-owned, this attempt's: the fetched and the stored archive pass through here.
    let staging: String
    let maxBytes: Int64

    /// nil when the job caches nothing, or this worker can't (no store; the noop executor).
    static func plan(_ job: ClaimedJob, store: CacheStore?, executor: any Executor, context: NodeContext) -> JobCache? {
        guard job.spec.cache != nil, let store, executor.movesFiles else { return nil }
        let settings = context.settings
        let storeBranch = job.facts.pullRequest.map(CacheKey.pullRequestBranch) ?? job.facts.branch
        return JobCache(store: store, records: CacheRecords(postgres: context.postgres), repository: job.repositoryID,
                        slug: CacheKey.slug(job: job.spec), storeBranch: storeBranch,
                        fetchBranches: CacheKey.fetchOrder(storeBranch: storeBranch, baseBranch: job.facts.branch, defaultBranch: job.defaultBranch),
                        staging: "\(stagingRoot(settings))/job-\(job.id)-\(job.attempt)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))",
                        maxBytes: settings.maxCacheBytes)
    }

    /// Where this node's attempts stage archives; emptied when the worker starts.
    static func stagingRoot(_ settings: Settings) -> String {
        "\(settings.workDirectory)/cache-staging/\(CacheKey.pathComponent(settings.nodeID))"
    }

    var options: CacheOptions { CacheOptions(maxBytes: maxBytes) }
    private var fetched: String { "\(staging)/fetch.tgz" }
    private var stored: String { "\(staging)/store.tgz" }

    /// Fetches the first archive there is; returns the files for the executor and a note for the log
    /// when the store failed.
    func fetch() async -> (files: JobFiles, note: String?) {
        var files = JobFiles(outputs: [.init(path: CacheOptions.storeFile, destination: stored, maxBytes: maxBytes)])
        do {
            try await offPool("cache-staging") { [staging] in
                try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            for branch in fetchBranches {
                if try await store.fetch(key: CacheKey.storageKey(repository: repository, branch: branch, slug: slug), to: fetched) {
                    files.inputs = [.init(path: CacheOptions.fetchFile, contents: .file(fetched)),
                                    .init(path: CacheOptions.fetchSourceFile, contents: .text("\(branch)/\(slug)"))]
                    break
                }
            }
            return (files, nil)
        } catch {
            return (files, "conveyor: the build cache could not be fetched (\(error)); the job runs without it\n")
        }
    }

    /// Stores what the job left, if anything; returns the log line saying what happened.
    func upload() async -> String? {
        guard FileManager.default.fileExists(atPath: stored) else { return nil }
        let key = CacheKey.storageKey(repository: repository, branch: storeBranch, slug: slug)
        do {
            let size = try await store.put(key: key, from: stored)
            try await records.record(repository: repository, branch: storeBranch, slug: slug, size: size, store: store.kind, storageKey: key)
            return "conveyor: stored the build cache \(storeBranch)/\(slug) (\(size) bytes)\n"
        } catch {
            return "conveyor: the build cache could not be stored (\(error)); the job's result stands\n"
        }
    }

    func removeStaging() async {
        _ = try? await offPool("cache-cleanup") { [staging] in try FileManager.default.removeItem(atPath: staging) }
    }
}
