import Foundation

/// Everything a node can be told. Defaults follow docs/architecture.md §7; `SettingsLoader` fills it from
/// `config/conveyor.yml`, then `CONVEYOR_*` environment variables, then command-line flags.
public struct Settings: Sendable {
    public var redisURL = "redis://127.0.0.1:6379/0"
    public var postgresURL = "postgres://conveyor@127.0.0.1:5432/conveyor"
    /// Sentinels to ask for the Redis master (docs/redis.md#sentinel); or use a redis+sentinel:// URL.
    public var redisSentinels: [String] = []
    public var redisMasterName: String?
    public var nodeID = Settings.defaultNodeID()
    public var roles: Set<Role> = Set(Role.allCases)
    public var keyPrefix = "cv"
    public var httpHost = "127.0.0.1"
    public var httpPort = 8080
    public var metricsPort = 9100
    public var publicURL: String?
    public var apiToken: String?
    public var webhookSecret: String?
    /// Development only: lets the web role start without `apiToken`, every call then open (docs/api.md#authentication).
    public var insecureNoAuth = false
    /// Live streams (SSE and /ws) a web node serves at once, and events buffered per stream.
    public var maxStreamSubscribers = 512
    public var streamBufferEvents = 2000
    /// How long webhook delivery ids are kept for de-duplication.
    public var webhookDeliveryRetentionHours = 168
    /// The cluster key sealing secrets at rest (docs/security.md): base64 of 32 bytes, or read from
    /// `secretsKeyFile`; `secretsKeyPrevious` only opens, during a rotation.
    public var secretsKey: String?
    public var secretsKeyFile: String?
    public var secretsKeyPrevious: String?
    /// Signs outgoing notifications of repositories without their own secret (never `webhookSecret`).
    public var notificationSecret: String?
    /// Longest the gatekeeper spends expanding one config before the request is errored.
    public var configEvalTimeoutSeconds = 2.0
    public var redisPoolSize = 4
    public var postgresPoolSize = 4
    /// Threads of the event loops (`EventLoopGroup`) that read the node's Postgres results (at most
    /// one per pooled connection; 0 counts as 1). Tasks run on Swift's default executor.
    public var eventLoopThreads = ProcessInfo.processInfo.activeProcessorCount
    public var migrateOnStart = true

    // Scheduling
    public var defaultOwnerLimit = 5
    public var sweepIntervalSeconds = 5.0
    public var leaseSeconds = 30.0
    public var maxAttempts = 3
    public var maxDeliveries = 5
    public var queuesFile = "config/queues.yml"
    public var maxJobsPerBuild = 200
    /// Transactions the hub runs at once for one batch of `cv:state`, each over its own builds (docs/architecture.md).
    public var hubBatchLanes = 4

    // Workers
    public var workerSlots = 2
    public var workerQueues = ["default"]
    public var executor = "local"
    /// The noop executor's pretend job length (benchmarks of limit-bound dispatch).
    public var noopExecutorSleepMilliseconds = 0
    public var workDirectory = "/tmp/conveyor-work"
    public var sandbox = "bwrap"
    public var sandboxNetwork = true
    /// Per-job limits (docs/security.md); a repository's own values take precedence. nil: no limit.
    public var jobMemoryLimit: Int64? = 4 << 30
    public var jobPidsLimit: Int? = 1024
    public var jobCpuLimit: Double?
    public var jobDiskLimit: Int64?
    /// Jobs run as uids `sandboxUIDBase + 1 … + sandboxUIDCount`, one per running job on the host.
    public var sandboxUIDBase = 59000
    public var sandboxUIDCount = 64
    /// Networks (CIDR) a job's network may not reach besides this host's own addresses.
    public var sandboxDenyNetworks = ["169.254.0.0/16"]
    public var hardTimeoutSeconds = 3000.0
    public var noOutputTimeoutSeconds = 600.0
    public var maxLogBytes = 4 * 1024 * 1024
    public var logFlushMilliseconds = 500
    public var logFlushBytes = 8192
    public var drainGraceSeconds = 30.0
    public var cancelGraceSeconds = 1.0
    public var sshHost: String?
    public var sshPort = 22
    public var sshUser = "conveyor"
    public var sshKey: String?
    public var sshKnownHosts: String?
    /// The remote account ssh jobs run as (ssh_user must be root then); nil: the ssh user.
    public var sshBuildUser: String?
    public var libvirtURI = "qemu:///system"
    public var libvirtDomains: [String] = []
    public var libvirtSnapshot = "clean"

    // Logs
    public var aggregationDelaySeconds = 10.0
    public var eventsMaxLength = 100_000
    public var s3Endpoint: String?
    public var s3Bucket = "conveyor-logs"
    public var s3Region = "us-east-1"
    public var s3AccessKey: String?
    public var s3SecretKey: String?
    public var purgeAfterArchive = true

    // Build caches (docs/cache.md)
    /// dir (files under cacheDirectory), s3 (the log archive's bucket, keys under `cache/`), or off.
    public var cacheStore = "dir"
    public var cacheDir: String?
    /// Where the `dir` store keeps archives: `cache_dir`, by default `<work_directory>/cache`.
    public var cacheDirectory: String { cacheDir ?? workDirectory + "/cache" }
    public var maxCacheBytes: Int64 = 1 << 30

    // Notifications
    public var statusAPIURL: String?
    public var statusAPIToken: String?
    // Email notifications from the config (docs/notifications.md): off when smtpURL is nil.
    public var smtpURL: String?
    public var smtpFrom = "conveyor@localhost"
    public var smtpUser: String?
    public var smtpPassword: String?
    public var smtpRequireTLS = false

    public init() {}

    public static func defaultNodeID() -> String {
        "\(ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "node")-\(getpid())"
    }

    public var leaseMilliseconds: Int { Int(leaseSeconds * 1000) }
    public var keys: Keys { Keys(prefix: keyPrefix) }
}
