import ConveyorPostgres
import ConveyorRedis
import Foundation

/// Schema migrations shipped with the package (`Migrations/NNNN_name.sql`).
public enum Schema {
    public static func migrations() throws -> [Migration] {
        guard let dir = Bundle.module.url(forResource: "Migrations", withExtension: nil) else {
            throw SettingsError("migrations folder missing from the bundle")
        }
        let files = try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "sql" }
        return try files.map { url in
            let base = url.deletingPathExtension().lastPathComponent
            let parts = base.split(separator: "_", maxSplits: 1)
            guard let version = parts.first.flatMap({ Int($0) }) else { throw SettingsError("migration \(base): name must start with a number") }
            return Migration(version: version, name: parts.count > 1 ? String(parts[1]) : base, sql: try String(contentsOf: url, encoding: .utf8))
        }.sorted { $0.version < $1.version }
    }
}

/// The Lua scripts (`Scripts/*.lua`), each called by SHA.
public struct LuaScripts: Sendable {
    public let admit: RedisScript
    public let enqueue: RedisScript
    public let release: RedisScript
    public let renew: RedisScript
    public let prune: RedisScript

    public init() throws {
        admit = try RedisScript(name: "admit", bundle: .module)
        enqueue = try RedisScript(name: "enqueue", bundle: .module)
        release = try RedisScript(name: "release", bundle: .module)
        renew = try RedisScript(name: "renew", bundle: .module)
        prune = try RedisScript(name: "prune", bundle: .module)
    }
}
