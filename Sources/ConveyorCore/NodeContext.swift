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
        let redis = RedisClient(configuration: .init(url: try redisURL(settings), poolSize: settings.redisPoolSize), logger: logger)
        let postgres = PostgresClient(configuration: .init(url: settings.postgresURL, poolSize: settings.postgresPoolSize,
                                                           eventLoops: settings.eventLoopThreads), logger: logger)
        return NodeContext(settings: settings, redis: redis, postgres: postgres, scripts: try LuaScripts(), logger: logger)
    }

    /// `redis_url`, or with `redis_sentinels` + `redis_master_name` the Sentinel form of it (its
    /// credentials and database kept).
    public static func redisURL(_ settings: Settings) throws -> RedisURL {
        let base = try RedisURL(settings.redisURL)
        if settings.redisSentinels.isEmpty { return base }
        guard let name = settings.redisMasterName, !name.isEmpty else {
            throw SettingsError("redis_sentinels is set but redis_master_name is not: name the master the Sentinels monitor")
        }
        var addresses: [RedisURL.Address] = []
        for item in settings.redisSentinels {
            guard let address = RedisURL.address(Substring(item), defaultPort: 26379) else {
                throw SettingsError("redis_sentinels: '\(item)' is not host[:port]")
            }
            addresses.append(address)
        }
        return try RedisURL(sentinels: addresses, masterName: name, user: base.user, password: base.password, database: base.database,
                            sentinelUser: base.sentinel?.user, sentinelPassword: base.sentinel?.password)
    }

    public var keys: Keys { settings.keys }
    public var events: EventPublisher { EventPublisher(redis: redis, keys: keys, maxLength: settings.eventsMaxLength) }
    public var slots: SlotBook {
        SlotBook(redis: redis, keys: keys, scripts: scripts, settings: settings, repair: { _ = try await RedisRepair(context: self).ensure() })
    }

    public func migrate() async throws {
        try await Migrator(client: postgres, logger: logger).migrate(Schema.migrations())
    }

    public func close() async {
        await redis.close()
        await postgres.close()
    }
}
