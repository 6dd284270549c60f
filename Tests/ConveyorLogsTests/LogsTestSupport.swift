import ConveyorCore
import ConveyorHTTPClient
import ConveyorLogs
import ConveyorRedis
import ConveyorTesting
import Foundation
import Testing

/// A running `LogsService` on an isolated context, with helpers to send parts and read what came out.
struct LogsHarness {
    let context: NodeContext
    let archive: S3Client?
    private let tasks: [Task<Void, any Error>]

    static func start(archive wantsArchive: Bool = false, services: Int = 1,
                      configure: (inout Settings) -> Void = { _ in }) async throws -> LogsHarness {
        let context = try await TestEnvironment.context(roles: [.logs]) { settings in
            settings.aggregationDelaySeconds = 0.5
            settings.sweepIntervalSeconds = 0.2
            configure(&settings)
        }
        let archive = wantsArchive ? try await S3TestServer.client(S3TestServer.http) : nil
        var tasks: [Task<Void, any Error>] = []
        for index in 0..<services {
            // Each service is its own node: its own consumer name and clients, one database and prefix.
            var settings = context.settings
            settings.nodeID += "-\(index)"
            let node = try NodeContext.make(settings: settings, logger: context.logger)
            let service = LogsService(context: node, archive: archive)
            tasks.append(Task {
                defer { Task { await node.close() } }
                try await service.run()
            })
        }
        return LogsHarness(context: context, archive: archive, tasks: tasks)
    }

    var store: LogStore { LogStore(context: context, archive: archive) }

    func send(_ parts: [LogPart]) async throws {
        for chunk in stride(from: 0, to: parts.count, by: 200) {
            _ = try await context.redis.pipeline(parts[chunk..<min(chunk + 200, parts.count)].map {
                RedisClient.xaddCommand(context.keys.logs, fields: $0.fields)
            })
        }
    }

    /// Every `log:part` event of `job` on `cv:events`, in stream order.
    func events(job: Int64) async throws -> [LogPart] {
        var parts: [LogPart] = []
        var start = "-"
        while true {
            let reply = try await context.redis.send(["XRANGE", RedisArgument(context.keys.events), RedisArgument(start), "+", "COUNT", "1000"])
            let entries = (reply.array ?? []).compactMap { value -> StreamEntry? in
                guard let pair = value.array, pair.count == 2, let id = pair[0].string else { return nil }
                var fields: [String: [UInt8]] = [:]
                let list = pair[1].array ?? []
                for i in stride(from: 0, to: list.count - 1, by: 2) { if let k = list[i].string { fields[k] = list[i + 1].bytes ?? [] } }
                return StreamEntry(id: id, fields: fields)
            }
            for entry in entries where entry.string("type") == LogPartEvent.type {
                if let data = entry.fields?["data"], let part = LogPartEvent.decode(data), part.job == job { parts.append(part) }
            }
            guard entries.count == 1000, let last = entries.last else { return parts }
            start = "(" + last.id
        }
    }

    func logRow(job: Int64, attempt: Int = 1) async throws -> (aggregated: Bool, parts: Int, archived: Bool, purged: Bool, content: [UInt8]?)? {
        guard let row = try await context.postgres.query("""
            SELECT aggregated_at IS NOT NULL AS aggregated, archive_verified, purged_at IS NOT NULL AS purged, content,
                   (SELECT count(*) FROM log_parts p WHERE p.job_id = l.job_id AND p.attempt = l.attempt) AS parts
            FROM logs l WHERE job_id = $1 AND attempt = $2
            """, [.int(job), .int(attempt)]).first else { return nil }
        return (row["aggregated"].bool ?? false, row["parts"].int ?? 0, row["archive_verified"].bool ?? false, row["purged"].bool ?? false,
                row["content"].bytes)
    }

    /// Aggregated with no parts left (and, when given, holding exactly `content`).
    func settled(job: Int64, content: [UInt8]? = nil) async throws -> Bool {
        guard let row = try await logRow(job: job) else { return false }
        return row.aggregated && row.parts == 0 && (content == nil || row.content == content)
    }

    func stop() async {
        for task in tasks { task.cancel() }
        for task in tasks { _ = try? await task.value }
        await context.close()
    }
}

enum S3TestServer {
    /// One client for the whole test process, never shut down: a test that fails half-way must not
    /// trip the client's "was not shut down" check and take the other tests with it.
    static let http = CurlHTTPClient(threads: 4)
    static let startCommand = "scripts/test-servers.sh start && eval \"$(scripts/test-servers.sh env)\""

    /// A client on a bucket of its own, after checking the server answers.
    static func client(_ http: CurlHTTPClient) async throws -> S3Client {
        let endpoint = ProcessInfo.processInfo.environment["CONVEYOR_TEST_S3_ENDPOINT"] ?? "http://127.0.0.1:9000"
        let s3 = S3Client(config: S3Config(endpoint: endpoint, bucket: "cv-logs-\(UUID().uuidString.prefix(8).lowercased())",
                                           accessKey: "testing", secretKey: "testing", timeout: .seconds(20)), http: http)
        do {
            try await s3.createBucketIfMissing()
        } catch {
            throw TestSetupError("S3 server at \(endpoint) is not reachable (\(error)). Start it with: \(startCommand)")
        }
        return s3
    }
}

/// Numbered parts of `text` split into `size`-byte pieces, the last one final.
func parts(job: Int64, attempt: Int = 1, of text: [UInt8], size: Int, first: Int = 1) -> [LogPart] {
    let pieces = stride(from: 0, to: text.count, by: size).map { Array(text[$0..<min($0 + size, text.count)]) }
    return pieces.enumerated().map { index, bytes in
        LogPart(job: job, attempt: attempt, number: first + index, final: index == pieces.count - 1, content: bytes)
    }
}

func sampleLog(lines: Int) -> [UInt8] {
    Array((1...lines).map { "line \($0): \(String(repeating: "ü·x", count: $0 % 7))\n" }.joined().utf8)
}

func randomJob() -> Int64 { Int64.random(in: 1...1_000_000_000) }
