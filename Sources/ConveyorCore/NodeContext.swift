import ConveyorPostgres
import ConveyorRedis
import Logging

/// What every role of a node shares: settings, the two clients, key names, scripts.
public struct NodeContext: Sendable {
    public let settings: Settings
    public let redis: RedisClient
    public let postgres: PostgresClient
    public let scripts: LuaScripts
    public let logger: Logger
    public let status: NodeStatus

    public init(settings: Settings, redis: RedisClient, postgres: PostgresClient, scripts: LuaScripts, logger: Logger, status: NodeStatus = NodeStatus()) {
        self.settings = settings
        self.redis = redis
        self.postgres = postgres
        self.scripts = scripts
        self.logger = logger
        self.status = status
    }

    /// Opens the clients a node needs; nothing connects until first use.
    public static func make(settings: Settings, logger: Logger) throws -> NodeContext {
        let redis = RedisClient(configuration: .init(url: try RedisURL(settings.redisURL), poolSize: settings.redisPoolSize), logger: logger)
        let postgres = PostgresClient(configuration: .init(url: settings.postgresURL, poolSize: settings.postgresPoolSize,
                                                           eventLoops: settings.eventLoopThreads), logger: logger)
        return NodeContext(settings: settings, redis: redis, postgres: postgres, scripts: try LuaScripts(), logger: logger)
    }

    public var keys: Keys { settings.keys }
    public var events: EventPublisher { EventPublisher(redis: redis, keys: keys, maxLength: settings.eventsMaxLength) }
    public var slots: SlotBook { SlotBook(redis: redis, keys: keys, scripts: scripts, settings: settings) }

    public func migrate() async throws {
        try await Migrator(client: postgres, logger: logger).migrate(Schema.migrations())
    }

    public func close() async {
        await redis.close()
        await postgres.close()
    }
}
