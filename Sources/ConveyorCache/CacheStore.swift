import ConveyorCore
import ConveyorHTTPClient
import ConveyorThreads
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where cache archives live (settings `cache_store`, docs/cache.md#where-caches-are-stored): files under
/// `cache_dir` (one machine), or objects under `cache/` in the log archive's S3 bucket (several).
/// Keys come from `CacheKey.storageKey`.
public struct CacheStore: Sendable {
    public enum Backend: Sendable {
        case directory(String)
        case s3(S3Client)
    }

    public let backend: Backend

    public init(_ backend: Backend) {
        self.backend = backend
    }

    /// The store the settings name; nil when caching is off. `http` is needed for `s3`.
    public static func make(settings: Settings, http: CurlHTTPClient?) throws -> CacheStore? {
        switch settings.cacheStore {
        case "off":
            return nil
        case "s3":
            guard let endpoint = settings.s3Endpoint else { throw SettingsError("cache_store s3 needs s3_endpoint (the log archive's S3 settings)") }
            guard let http else { throw SettingsError("cache_store s3: this node has no HTTP client") }
            // Archives are larger than logs: a longer bound per request.
            let config = S3Config(endpoint: endpoint, bucket: settings.s3Bucket, region: settings.s3Region,
                                  accessKey: settings.s3AccessKey ?? "", secretKey: settings.s3SecretKey ?? "", timeout: .seconds(600))
            return CacheStore(.s3(S3Client(config: config, http: http)))
        default:
            return CacheStore(.directory(settings.cacheDirectory))
        }
    }

    /// `dir` or `s3`, recorded with each cache so a delete knows where to look.
    public var kind: String {
        switch backend {
        case .directory: "dir"
        case .s3: "s3"
        }
    }

    /// Copies the archive at `key` to `path`; false when there is none.
    public func fetch(key: String, to path: String) async throws -> Bool {
        switch backend {
        case .directory(let root):
            let source = try Self.path(root, key)
            return try await offPoolThread("cache-fetch") {
                guard FileManager.default.fileExists(atPath: source) else { return false }
                try? FileManager.default.removeItem(atPath: path)
                try FileManager.default.copyItem(atPath: source, toPath: path)
                return true
            }
        case .s3(let client):
            guard let bytes = try await client.get(key: Self.objectKey(key)) else { return false }
            try await offPoolThread("cache-fetch") { try Data(bytes).write(to: URL(fileURLWithPath: path)) }
            return true
        }
    }

    /// Stores the file at `path` as `key`, replacing what was there; returns its size.
    @discardableResult
    public func put(key: String, from path: String) async throws -> Int64 {
        switch backend {
        case .directory(let root):
            let target = try Self.path(root, key)
            return try await offPoolThread("cache-store") {
                let manager = FileManager.default
                try manager.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                                            attributes: [.posixPermissions: 0o700])
                // A reader never sees half an archive: copy beside, then rename over.
                let temporary = "\(target).tmp-\(UInt32.random(in: 0...UInt32.max))"
                try manager.copyItem(atPath: path, toPath: temporary)
                guard rename(temporary, target) == 0 else {
                    let reason = String(cString: strerror(errno))
                    try? manager.removeItem(atPath: temporary)
                    throw CacheStoreError("cannot place \(target): \(reason)")
                }
                return (try manager.attributesOfItem(atPath: target)[.size] as? NSNumber)?.int64Value ?? 0
            }
        case .s3(let client):
            let bytes = try await offPoolThread("cache-store") { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
            try await client.putVerified(key: Self.objectKey(key), bytes: bytes, contentType: "application/gzip")
            return Int64(bytes.count)
        }
    }

    /// Removes the archive; a missing one is not an error.
    public func delete(key: String) async throws {
        switch backend {
        case .directory(let root):
            let target = try Self.path(root, key)
            try await offPoolThread("cache-delete") {
                if FileManager.default.fileExists(atPath: target) { try FileManager.default.removeItem(atPath: target) }
            }
        case .s3(let client):
            try await client.delete(key: Self.objectKey(key))
        }
    }

    static func objectKey(_ key: String) -> String { "cache/" + key }

    /// A key is three components made by `CacheKey`; anything else (`..`, absolute) is refused.
    static func path(_ root: String, _ key: String) throws -> String {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
            throw CacheStoreError("not a cache key: \(key)")
        }
        return "\(root)/\(key)"
    }
}

public struct CacheStoreError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
