import ConveyorCore

/// What one job may use (docs/security.md). nil: no limit.
public struct JobLimits: Sendable, Equatable {
    public var memoryBytes: Int64?
    public var pids: Int?
    public var cpus: Double?
    public var diskBytes: Int64?
    /// Repository values that could not be used, for the job log.
    public var notes: [String] = []

    public init(memoryBytes: Int64? = nil, pids: Int? = nil, cpus: Double? = nil, diskBytes: Int64? = nil) {
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.cpus = cpus
        self.diskBytes = diskBytes
    }

    public static func defaults(_ settings: Settings) -> JobLimits {
        JobLimits(memoryBytes: settings.jobMemoryLimit, pids: settings.jobPidsLimit, cpus: settings.jobCpuLimit, diskBytes: settings.jobDiskLimit)
    }

    /// A repository's own limits over the node's; a value that is not valid is reported and ignored.
    public func overridden(memory: String?, pids: Int?, cpus: Double?, disk: String?) -> JobLimits {
        var limits = self
        if let memory {
            if let bytes = ByteSize.parse(memory) { limits.memoryBytes = bytes } else { limits.notes.append("the repository's job_memory_limit '\(memory)' is not a size; the node's applies") }
        }
        if let pids {
            if pids > 0 { limits.pids = pids } else { limits.notes.append("the repository's job_pids_limit \(pids) is not positive; the node's applies") }
        }
        if let cpus {
            if cpus > 0 { limits.cpus = cpus } else { limits.notes.append("the repository's job_cpu_limit \(cpus) is not positive; the node's applies") }
        }
        if let disk {
            if let bytes = ByteSize.parse(disk) { limits.diskBytes = bytes } else { limits.notes.append("the repository's job_disk_limit '\(disk)' is not a size; the node's applies") }
        }
        return limits
    }

    /// "memory 4 GiB, 1024 processes, 2 CPUs", for the job log header.
    public var summary: String {
        var parts: [String] = []
        parts.append("memory " + (memoryBytes.map(ByteSize.describe) ?? "unlimited"))
        parts.append(pids.map { "\($0) processes" } ?? "processes unlimited")
        parts.append(cpus.map { "\(Self.cores($0)) CPUs" } ?? "CPUs unlimited")
        parts.append("disk " + (diskBytes.map(ByteSize.describe) ?? "unlimited"))
        return parts.joined(separator: ", ")
    }

    static func cores(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

/// A limit a job ran into: it ends `failed` with `message` in its log.
public struct LimitHit: Sendable, Equatable {
    /// memory, pids, disk
    public var limit: String
    /// "memory limit of 4 GiB"
    public var message: String

    public static func memory(_ bytes: Int64) -> LimitHit { LimitHit(limit: "memory", message: "memory limit of \(ByteSize.describe(bytes))") }
    public static func pids(_ count: Int) -> LimitHit { LimitHit(limit: "pids", message: "process limit of \(count) processes") }
    public static func disk(_ bytes: Int64) -> LimitHit { LimitHit(limit: "disk", message: "disk limit of \(ByteSize.describe(bytes))") }
}
