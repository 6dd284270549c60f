import ConveyorCore
import ConveyorPostgres

/// Tells the fan-out's reader which events belong to private repositories, for anonymous
/// subscribers (docs/api.md#authentication). Events name their repository, or only a build or
/// a job; those ids are resolved in one query per batch and cached. The set of private
/// repositories is re-read every tick, so a visibility change applies within seconds. Any
/// failure leaves events marked private (fail closed).
struct RepoVisibility {
    let context: NodeContext
    private var privateSlugs: Set<String>?
    private var buildRepo: [Int64: String] = [:]
    private var jobRepo: [Int64: String] = [:]
    static let cacheLimit = 50_000

    init(context: NodeContext) { self.context = context }

    mutating func annotate(_ events: inout [FanoutEvent], refresh: Bool) async {
        do {
            if refresh || privateSlugs == nil {
                let rows = try await context.postgres.read("SELECT slug FROM repositories WHERE private")
                privateSlugs = Set(try rows.rows.map { try $0.decode("slug", as: String.self) })
            }
            let unknownBuilds = Set(events.compactMap { $0.repo == nil ? $0.build : nil }).filter { buildRepo[$0] == nil }
            let unknownJobs = Set(events.compactMap { $0.repo == nil && $0.build == nil ? $0.job : nil }).filter { jobRepo[$0] == nil }
            if buildRepo.count > Self.cacheLimit { buildRepo.removeAll() }
            if jobRepo.count > Self.cacheLimit { jobRepo.removeAll() }
            if !unknownBuilds.isEmpty {
                let rows = try await context.postgres.read("""
                    SELECT b.id, r.slug FROM builds b JOIN repositories r ON r.id = b.repository_id WHERE b.id = ANY($1::bigint[])
                    """, [.text(Self.array(unknownBuilds))])
                for row in rows.rows { buildRepo[try row.decode("id")] = try row.decode("slug") }
            }
            if !unknownJobs.isEmpty {
                let rows = try await context.postgres.read("""
                    SELECT j.id, r.slug FROM jobs j JOIN builds b ON b.id = j.build_id JOIN repositories r ON r.id = b.repository_id
                    WHERE j.id = ANY($1::bigint[])
                    """, [.text(Self.array(unknownJobs))])
                for row in rows.rows { jobRepo[try row.decode("id")] = try row.decode("slug") }
            }
        } catch {
            context.logger.warning("could not resolve repository visibility; events stay hidden from anonymous streams", metadata: ["error": "\(error)"])
            return
        }
        guard let privateSlugs else { return }
        for index in events.indices {
            let event = events[index]
            let repo = event.repo ?? event.build.flatMap { buildRepo[$0] } ?? event.job.flatMap { jobRepo[$0] }
            if let repo {
                events[index].repo = repo
                events[index].isPrivate = privateSlugs.contains(repo)
            }
        }
    }

    static func array(_ ids: Set<Int64>) -> String {
        "{" + ids.map(String.init).joined(separator: ",") + "}"
    }
}
