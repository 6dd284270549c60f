import ConveyorCore
import ConveyorPostgres
import ConveyorRedis
import Foundation
import Logging

/// Reaches the Redis and PostgreSQL servers that `scripts/services.sh start` runs for tests.
///
/// Integration tests never skip: when a server is missing they fail with a message naming the
/// command that starts it.
public enum TestEnvironment {
    public static let startCommand = "scripts/services.sh start (or scripts/test.sh, which starts everything)"

    public static var redisURL: String {
        ProcessInfo.processInfo.environment["CONVEYOR_TEST_REDIS_URL"] ?? ProcessInfo.processInfo.environment["CONVEYOR_REDIS_URL"] ?? "redis://127.0.0.1:6391/0"
    }

    public static var postgresURL: String {
        ProcessInfo.processInfo.environment["CONVEYOR_TEST_POSTGRES_URL"] ?? ProcessInfo.processInfo.environment["CONVEYOR_POSTGRES_URL"] ?? "postgres://conveyor@127.0.0.1:5441/conveyor"
    }

    /// A Redis client, after checking the server answers.
    public static func redis(poolSize: Int = 2) async throws -> RedisClient {
        let client = try RedisClient(url: redisURL, poolSize: poolSize)
        do {
            _ = try await client.send("PING")
        } catch {
            throw TestSetupError("Redis at \(redisURL) is not reachable (\(error)). Start it with: \(startCommand)")
        }
        return client
    }

    /// A Postgres client on a fresh, empty database made for this test.
    public static func freshPostgres(poolSize: Int = 2, lentStatementsOnLoop: Bool? = nil) async throws -> (client: PostgresClient, url: String) {
        let admin = PostgresClient(url: postgresURL, poolSize: 1)
        let name = "cv_test_\(UUID().uuidString.prefix(8).lowercased())"
        do {
            try await admin.query("CREATE DATABASE \(name)")
            await admin.close()
        } catch {
            await admin.close()
            throw TestSetupError("PostgreSQL at \(postgresURL) is not reachable (\(error)). Start it with: \(startCommand)")
        }
        let url = replacingDatabase(in: postgresURL, with: name)
        return (PostgresClient(configuration: .init(url: url, poolSize: poolSize, lentStatementsOnLoop: lentStatementsOnLoop)), url)
    }

    /// A migrated database, a unique key prefix and a node context, isolated from every other test.
    public static func context(roles: Set<Role> = Set(Role.allCases), configure: (inout Settings) -> Void = { _ in }) async throws -> NodeContext {
        let redis = try await redis()
        await redis.close()
        let (pg, url) = try await freshPostgres()
        await pg.close()
        var settings = Settings()
        settings.redisURL = redisURL
        settings.postgresURL = url
        settings.keyPrefix = "t\(UUID().uuidString.prefix(8).lowercased())"
        settings.nodeID = "test-\(UUID().uuidString.prefix(6).lowercased())"
        settings.roles = roles
        settings.leaseSeconds = 3
        settings.sweepIntervalSeconds = 1
        settings.aggregationDelaySeconds = 1
        settings.logFlushMilliseconds = 100
        configure(&settings)
        var logger = Logger(label: "conveyor.test")
        logger.logLevel = ProcessInfo.processInfo.environment["CONVEYOR_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        let context = try NodeContext.make(settings: settings, logger: logger)
        try await context.migrate()
        return context
    }

    static func replacingDatabase(in url: String, with name: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        components.path = "/" + name
        return components.string ?? url
    }
}

public struct TestSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Polls `condition` until it holds or `timeout` passes; tests assert behaviour, so the timeout is generous.
public func eventually(timeout: Duration = .seconds(30), every: Duration = .milliseconds(100), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: every)
    }
    return try await condition()
}

extension TestEnvironment {
    /// A second node on the same database and key prefix (another consumer in every group).
    public static func sibling(of context: NodeContext) async throws -> NodeContext {
        var settings = context.settings
        settings.nodeID = "test-\(UUID().uuidString.prefix(6).lowercased())"
        return try NodeContext.make(settings: settings, logger: context.logger)
    }
}
