import ConveyorCache
import ConveyorCore
import ConveyorHTTPClient
import ConveyorModel
import ConveyorTesting
import Foundation
import Testing

/// Both stores on real storage: a directory, and the S3 server (moto) the log archive tests use.
@Suite struct CacheStoreTests {
    /// One client for the whole test process, never shut down (see ConveyorLogsTests' S3TestServer).
    static let http = CurlHTTPClient(threads: 2)

    static func s3Store() async throws -> CacheStore {
        let endpoint = ProcessInfo.processInfo.environment["CONVEYOR_TEST_S3_ENDPOINT"] ?? "http://127.0.0.1:9000"
        var settings = Settings()
        settings.cacheStore = "s3"
        settings.s3Endpoint = endpoint
        settings.s3Bucket = "cv-cache-\(UUID().uuidString.prefix(8).lowercased())"
        settings.s3AccessKey = "testing"
        settings.s3SecretKey = "testing"
        let store = try #require(try CacheStore.make(settings: settings, http: http))
        guard case .s3(let client) = store.backend else { throw TestSetupError("cache_store s3 did not make an S3 store") }
        do {
            try await client.createBucketIfMissing()
        } catch {
            throw TestSetupError("S3 server at \(endpoint) is not reachable (\(error)). Start it with: scripts/test-servers.sh start")
        }
        return store
    }

    static func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cv-cache-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Stores, fetches back the same bytes, replaces, deletes; a missing key fetches as false.
    static func roundTrip(_ store: CacheStore) async throws {
        let dir = try scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        try Data(bytes).write(to: URL(fileURLWithPath: "\(dir)/a.tgz"))
        let key = CacheKey.storageKey(repository: 42, branch: "feature/x", slug: "cache-linux-jammy-abc--shell.tgz")
        #expect(try await store.put(key: key, from: "\(dir)/a.tgz") == Int64(bytes.count))
        #expect(try await store.fetch(key: key, to: "\(dir)/b.tgz"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/b.tgz")) == Data(bytes))
        try Data("second".utf8).write(to: URL(fileURLWithPath: "\(dir)/a.tgz"))
        #expect(try await store.put(key: key, from: "\(dir)/a.tgz") == 6)
        #expect(try await store.fetch(key: key, to: "\(dir)/c.tgz"))
        #expect(try String(contentsOfFile: "\(dir)/c.tgz", encoding: .utf8) == "second")
        try await store.delete(key: key)
        #expect(try await !store.fetch(key: key, to: "\(dir)/d.tgz"))
        try await store.delete(key: key)
        let other = CacheKey.storageKey(repository: 42, branch: "main", slug: "cache-linux-jammy-abc--shell.tgz")
        #expect(try await !store.fetch(key: other, to: "\(dir)/e.tgz"))
    }

    @Test func theDirectoryStoreKeepsArchivesUnderCacheDir() async throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var settings = Settings()
        settings.workDirectory = root
        let store = try #require(try CacheStore.make(settings: settings, http: nil))
        #expect(store.kind == "dir")
        try await Self.roundTrip(store)
        // The branch is one encoded component: `feature/x` cannot make a directory level or climb out.
        let key = CacheKey.storageKey(repository: 1, branch: "../../etc", slug: "s.tgz")
        #expect(key == "1/%2E%2E%2F%2E%2E%2Fetc/s.tgz")
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(root)/in.tgz"))
        try await store.put(key: key, from: "\(root)/in.tgz")
        #expect(FileManager.default.fileExists(atPath: "\(root)/cache/\(key)"))
        await #expect(throws: CacheStoreError.self) { try await store.delete(key: "../x/y") }
    }

    @Test func theS3StoreKeepsArchivesUnderCachePrefix() async throws {
        let store = try await Self.s3Store()
        #expect(store.kind == "s3")
        try await Self.roundTrip(store)
        guard case .s3(let client) = store.backend else { return }
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("y".utf8).write(to: URL(fileURLWithPath: "\(dir)/y.tgz"))
        try await store.put(key: "7/main/s.tgz", from: "\(dir)/y.tgz")
        #expect(try await client.head(key: "cache/7/main/s.tgz")?.size == 1)
    }

    @Test func s3WithoutAnEndpointIsAClearError() throws {
        var settings = Settings()
        settings.cacheStore = "s3"
        #expect(throws: SettingsError.self) { _ = try CacheStore.make(settings: settings, http: nil) }
        settings.cacheStore = "off"
        #expect(try CacheStore.make(settings: settings, http: nil) == nil)
    }

    @Test func slugsFollowTheJobSignature() {
        var job = JobSpec(language: "python", os: "linux", dist: "jammy", keys: ["python": .string("3.12")], env: [EnvVar(name: "A", value: "1")])
        let slug = CacheKey.slug(job: job)
        #expect(slug.hasPrefix("cache-linux-jammy-"))
        #expect(slug.hasSuffix("--python.tgz"))
        job.keys["python"] = .string("3.11")
        #expect(CacheKey.slug(job: job) != slug)
        #expect(CacheKey.fetchOrder(storeBranch: "PR.4", baseBranch: "dev", defaultBranch: "main") == ["PR.4", "dev", "main"])
        #expect(CacheKey.fetchOrder(storeBranch: "main", baseBranch: "main", defaultBranch: nil) == ["main", "master"])
    }
}
