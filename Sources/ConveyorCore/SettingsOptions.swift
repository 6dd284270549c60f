/// One configurable option: its YAML key, its environment name and how a text value applies.
public struct SettingOption: Sendable {
    public var key: String
    public var env: String
    public var help: String
    let apply: @Sendable (inout Settings, String) throws(SettingsError) -> Void

    init(_ key: String, _ help: String, env: String? = nil, _ apply: @escaping @Sendable (inout Settings, String) throws(SettingsError) -> Void) {
        self.key = key
        self.env = env ?? "CONVEYOR_" + key.uppercased()
        self.help = help
        self.apply = apply
    }
}

private func int(_ key: String, _ text: String, min: Int = 0) throws(SettingsError) -> Int {
    guard let v = Int(text.trimmingCharacters(in: .whitespaces)), v >= min else {
        throw SettingsError("\(key): expected an integer ≥ \(min), got '\(text)'")
    }
    return v
}

private func seconds(_ key: String, _ text: String) throws(SettingsError) -> Double {
    guard let v = Double(text.trimmingCharacters(in: .whitespaces)), v > 0 else {
        throw SettingsError("\(key): expected a positive number of seconds, got '\(text)'")
    }
    return v
}

private func bool(_ key: String, _ text: String) throws(SettingsError) -> Bool {
    switch text.lowercased() {
    case "1", "true", "yes", "on": return true
    case "0", "false", "no", "off": return false
    default: throw SettingsError("\(key): expected true or false, got '\(text)'")
    }
}

private func list(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

private func optional(_ text: String) -> String? { text.isEmpty ? nil : text }

/// A size limit: `4G`, `512M`…; `none` (or empty, `0`) for no limit.
private func sizeLimit(_ key: String, _ text: String) throws(SettingsError) -> Int64? {
    if ["", "0", "none", "unlimited"].contains(text.lowercased()) { return nil }
    guard let bytes = ByteSize.parse(text) else { throw SettingsError("\(key): expected a size like 4G or 512M, or none, got '\(text)'") }
    return bytes
}

extension SettingOption {
    /// Every option, in the order `config/conveyor.yml` documents them.
    public static let all: [SettingOption] = [
        .init("redis_url", "Redis URL: redis://[:password@]host:port/db") { $0.redisURL = $1 },
        .init("redis_sentinels", "Redis Sentinels host:port,host:port: the master is asked of them (redis_url keeps the credentials and database)") { $0.redisSentinels = list($1) },
        .init("redis_master_name", "name of the master the Sentinels monitor (with redis_sentinels)") { $0.redisMasterName = optional($1) },
        .init("postgres_url", "PostgreSQL URL: postgres://user[:password]@host:port/db") { $0.postgresURL = $1 },
        .init("node_id", "stable node id, also the consumer name in every group (default: hostname-pid)") { $0.nodeID = $1 },
        .init("roles", "roles this node runs: all, or a list of web,gatekeeper,scheduler,worker,hub,logs,reaper") { s, v throws(SettingsError) in s.roles = try Role.parse(v) },
        .init("key_prefix", "prefix of every Redis key") { $0.keyPrefix = $1 },
        .init("http_host", "address the web role (or the metrics endpoint) binds") { $0.httpHost = $1 },
        .init("http_port", "port of the web role: UI, API, webhooks, /metrics") { s, v throws(SettingsError) in s.httpPort = try int("http_port", v) },
        .init("metrics_port", "port of /metrics, /healthz, /readyz on nodes without the web role") { s, v throws(SettingsError) in s.metricsPort = try int("metrics_port", v) },
        .init("public_url", "URL of the web UI as users reach it (links in notifications)") { $0.publicURL = optional($1) },
        .init("api_token", "bearer token required by write API calls and the CLI") { $0.apiToken = optional($1) },
        .init("webhook_secret", "global GitHub webhook secret, used when a repository has none") { $0.webhookSecret = optional($1) },
        .init("insecure_no_auth", "development only: let the web role start without api_token, leaving every API call open") { s, v throws(SettingsError) in s.insecureNoAuth = try bool("insecure_no_auth", v) },
        .init("max_stream_subscribers", "live streams (SSE and /ws) one web node serves at once; more get 503") { s, v throws(SettingsError) in s.maxStreamSubscribers = try int("max_stream_subscribers", v, min: 1) },
        .init("stream_buffer_events", "events buffered per live stream; a slower client is told to reconnect") { s, v throws(SettingsError) in s.streamBufferEvents = try int("stream_buffer_events", v, min: 16) },
        .init("webhook_delivery_retention_hours", "how long webhook delivery ids are kept to answer redeliveries as duplicates") { s, v throws(SettingsError) in s.webhookDeliveryRetentionHours = try int("webhook_delivery_retention_hours", v, min: 1) },
        .init("secrets_key", "cluster key sealing repository private keys and secret env vars: base64 of 32 random bytes (docs/security.md)") { $0.secretsKey = optional($1) },
        .init("secrets_key_file", "file holding secrets_key (read at start)") { $0.secretsKeyFile = optional($1) },
        .init("secrets_key_previous", "the cluster key before a rotation: only opens, until `conveyor secrets rotate-key` has re-sealed") { $0.secretsKeyPrevious = optional($1) },
        .init("notification_secret", "signs outgoing webhook notifications of repositories without their own secret (X-Conveyor-Signature); unsigned when unset") { $0.notificationSecret = optional($1) },
        .init("redis_pool_size", "Redis connections per node for ordinary commands") { s, v throws(SettingsError) in s.redisPoolSize = try int("redis_pool_size", v, min: 1) },
        .init("postgres_pool_size", "PostgreSQL connections per node") { s, v throws(SettingsError) in s.postgresPoolSize = try int("postgres_pool_size", v, min: 1) },
        .init("event_loop_threads", "threads of the event loops that read Postgres results (default: one per CPU, at most one per pooled connection)") { s, v throws(SettingsError) in s.eventLoopThreads = try int("event_loop_threads", v) },
        .init("migrate_on_start", "apply schema migrations when a node starts") { s, v throws(SettingsError) in s.migrateOnStart = try bool("migrate_on_start", v) },
        .init("default_owner_limit", "concurrent jobs per owner unless the owner has its own limit") { s, v throws(SettingsError) in s.defaultOwnerLimit = try int("default_owner_limit", v) },
        .init("sweep_interval_seconds", "scheduler safety-net sweep and reaper period") { s, v throws(SettingsError) in s.sweepIntervalSeconds = try seconds("sweep_interval_seconds", v) },
        .init("lease_seconds", "lease of a running job; renewed every lease/3; a worker silent past it is dead") { s, v throws(SettingsError) in s.leaseSeconds = try seconds("lease_seconds", v) },
        .init("max_attempts", "attempts of a job before it is errored") { s, v throws(SettingsError) in s.maxAttempts = try int("max_attempts", v, min: 1) },
        .init("max_deliveries", "deliveries of a stream entry before it is dead-lettered") { s, v throws(SettingsError) in s.maxDeliveries = try int("max_deliveries", v, min: 1) },
        .init("queues_file", "queue selection rules (by language, os, dist, arch)") { $0.queuesFile = $1 },
        .init("max_jobs_per_build", "largest build matrix accepted") { s, v throws(SettingsError) in s.maxJobsPerBuild = try int("max_jobs_per_build", v, min: 1) },
        .init("config_eval_timeout", "seconds the gatekeeper may spend expanding one config; past it the request is errored") { s, v throws(SettingsError) in s.configEvalTimeoutSeconds = try seconds("config_eval_timeout", v) },
        .init("hub_batch_lanes", "transactions the hub runs at once per cv:state batch, over disjoint builds (1: one transaction per batch)") { s, v throws(SettingsError) in s.hubBatchLanes = try int("hub_batch_lanes", v, min: 1) },
        .init("worker_slots", "jobs a worker node runs at once") { s, v throws(SettingsError) in s.workerSlots = try int("worker_slots", v, min: 1) },
        .init("worker_queues", "queues a worker node claims from, comma-separated") { $0.workerQueues = list($1) },
        .init("executor", "where jobs run: local (bubblewrap sandbox), ssh, libvirt, noop (benchmarks)") { s, v throws(SettingsError) in
            guard ["local", "ssh", "libvirt", "noop"].contains(v) else { throw SettingsError("executor: expected local, ssh, libvirt or noop, got '\(v)'") }
            s.executor = v
        },
        .init("noop_executor_sleep_ms", "noop executor: milliseconds each job pretends to run (benchmarks)") { s, v throws(SettingsError) in s.noopExecutorSleepMilliseconds = try int("noop_executor_sleep_ms", v) },
        .init("work_directory", "where the local executor makes each job's fresh work directory") { $0.workDirectory = $1 },
        .init("sandbox", "local executor sandbox: bwrap or none") { s, v throws(SettingsError) in
            guard ["bwrap", "none"].contains(v) else { throw SettingsError("sandbox: expected bwrap or none, got '\(v)'") }
            s.sandbox = v
        },
        .init("sandbox_network", "whether sandboxed jobs get network access") { s, v throws(SettingsError) in s.sandboxNetwork = try bool("sandbox_network", v) },
        .init("job_memory_limit", "memory a job may use (e.g. 4G; none for no limit); a repository may set its own") { s, v throws(SettingsError) in s.jobMemoryLimit = try sizeLimit("job_memory_limit", v) },
        .init("job_pids_limit", "processes and threads a job may have at once (0: no limit)") { s, v throws(SettingsError) in
            let n = try int("job_pids_limit", v)
            s.jobPidsLimit = n == 0 ? nil : n
        },
        .init("job_cpu_limit", "CPU cores a job may use (e.g. 1.5; 0: no limit)") { s, v throws(SettingsError) in
            guard let n = Double(v.trimmingCharacters(in: .whitespaces)), n >= 0 else { throw SettingsError("job_cpu_limit: expected a number of cores ≥ 0, got '\(v)'") }
            s.jobCpuLimit = n == 0 ? nil : n
        },
        .init("job_disk_limit", "size of a job's directory (e.g. 20G; none for no limit)") { s, v throws(SettingsError) in s.jobDiskLimit = try sizeLimit("job_disk_limit", v) },
        .init("sandbox_uid_base", "jobs run as uids sandbox_uid_base+1 … +sandbox_uid_count (scripts/build-users.sh creates them)") { s, v throws(SettingsError) in s.sandboxUIDBase = try int("sandbox_uid_base", v, min: 1000) },
        .init("sandbox_uid_count", "how many build uids the nodes of one host share (at least their slots)") { s, v throws(SettingsError) in s.sandboxUIDCount = try int("sandbox_uid_count", v, min: 1) },
        .init("sandbox_deny_networks", "networks (CIDR, comma-separated) a job's network may not reach, besides this host's own addresses") { s, v throws(SettingsError) in
            let networks = list(v)
            for network in networks where !network.contains("/") { throw SettingsError("sandbox_deny_networks: expected CIDRs like 10.0.0.0/8, got '\(network)'") }
            s.sandboxDenyNetworks = networks
        },
        .init("hard_timeout_seconds", "longest a job may run") { s, v throws(SettingsError) in s.hardTimeoutSeconds = try seconds("hard_timeout_seconds", v) },
        .init("no_output_timeout_seconds", "longest a job may print nothing") { s, v throws(SettingsError) in s.noOutputTimeoutSeconds = try seconds("no_output_timeout_seconds", v) },
        .init("max_log_bytes", "largest log kept per job; the tail is kept") { s, v throws(SettingsError) in s.maxLogBytes = try int("max_log_bytes", v, min: 1024) },
        .init("log_flush_milliseconds", "a log part is sent at least this often while output flows") { s, v throws(SettingsError) in s.logFlushMilliseconds = try int("log_flush_milliseconds", v, min: 10) },
        .init("log_flush_bytes", "a log part is sent when it reaches this size") { s, v throws(SettingsError) in s.logFlushBytes = try int("log_flush_bytes", v, min: 64) },
        .init("drain_grace_seconds", "on SIGTERM, how long running jobs may finish before they are reset") { s, v throws(SettingsError) in s.drainGraceSeconds = try seconds("drain_grace_seconds", v) },
        .init("ssh_host", "ssh executor: build host") { $0.sshHost = optional($1) },
        .init("ssh_port", "ssh executor: port") { s, v throws(SettingsError) in s.sshPort = try int("ssh_port", v, min: 1) },
        .init("ssh_user", "ssh executor: user") { $0.sshUser = $1 },
        .init("ssh_key", "ssh executor: private key file") { $0.sshKey = optional($1) },
        .init("ssh_known_hosts", "ssh executor: known_hosts file used to check the host key") { $0.sshKnownHosts = optional($1) },
        .init("ssh_build_user", "ssh executor: unprivileged account jobs run as on the build host (ssh_user must be root)") { $0.sshBuildUser = optional($1) },
        .init("libvirt_uri", "libvirt executor: connection URI") { $0.libvirtURI = $1 },
        .init("libvirt_domains", "libvirt executor: one domain per slot, comma-separated") { $0.libvirtDomains = list($1) },
        .init("libvirt_snapshot", "libvirt executor: clean snapshot reverted to before each job") { $0.libvirtSnapshot = $1 },
        .init("aggregation_delay_seconds", "logs are aggregated this long after their final part") { s, v throws(SettingsError) in s.aggregationDelaySeconds = try seconds("aggregation_delay_seconds", v) },
        .init("events_max_length", "approximate length cv:events is capped at") { s, v throws(SettingsError) in s.eventsMaxLength = try int("events_max_length", v, min: 100) },
        .init("s3_endpoint", "log archive: S3-compatible endpoint (archiving is off when empty)") { $0.s3Endpoint = optional($1) },
        .init("s3_bucket", "log archive: bucket") { $0.s3Bucket = $1 },
        .init("s3_region", "log archive: region used in the SigV4 signature") { $0.s3Region = $1 },
        .init("s3_access_key", "log archive: access key") { $0.s3AccessKey = optional($1) },
        .init("s3_secret_key", "log archive: secret key") { $0.s3SecretKey = optional($1) },
        .init("purge_after_archive", "drop a log's content from Postgres once its archive is verified") { s, v throws(SettingsError) in s.purgeAfterArchive = try bool("purge_after_archive", v) },
        .init("cache_store", "where build caches are kept: dir (cache_dir, one machine), s3 (the log archive's bucket under cache/), or off") { s, v throws(SettingsError) in
            guard ["dir", "s3", "off"].contains(v) else { throw SettingsError("cache_store: expected dir, s3 or off, got '\(v)'") }
            s.cacheStore = v
        },
        .init("cache_dir", "build caches of the dir store (default: <work_directory>/cache)") { $0.cacheDir = optional($1) },
        .init("max_cache_bytes", "largest build cache archive stored (e.g. 1G); a larger one is not stored") { s, v throws(SettingsError) in
            guard let bytes = ByteSize.parse(v), bytes > 0 else { throw SettingsError("max_cache_bytes: expected a size like 1G or 512M, got '\(v)'") }
            s.maxCacheBytes = bytes
        },
        .init("status_api_url", "GitHub-compatible commit status API base URL (off when empty)") { $0.statusAPIURL = optional($1) },
        .init("status_api_token", "token sent to the commit status API") { $0.statusAPIToken = optional($1) },
        .init("smtp_url", "email notifications: smtp://host:port or smtps://host:port (email is off when empty)") { $0.smtpURL = optional($1) },
        .init("smtp_from", "email notifications: sender address") { $0.smtpFrom = $1 },
        .init("smtp_user", "email notifications: SMTP user name") { $0.smtpUser = optional($1) },
        .init("smtp_password", "email notifications: SMTP password") { $0.smtpPassword = optional($1) },
        .init("smtp_require_tls", "email notifications: refuse to send without TLS (STARTTLS or smtps)") { s, v throws(SettingsError) in s.smtpRequireTLS = try bool("smtp_require_tls", v) },
    ]
}
