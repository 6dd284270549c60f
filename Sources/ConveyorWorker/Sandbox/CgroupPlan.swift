/// Which cgroup hierarchy this host offers for job limits, and what to write for a job's limits.
/// Pure: `detect` reads text it is given (`/proc/self/mountinfo`, `cgroup.controllers`).
public enum CgroupHierarchy: Sendable, Equatable {
    /// A cgroup2 mount whose `cgroup.controllers` offers memory and pids.
    case v2(mount: String)
    /// cgroup v1: one mount per controller (memory and pids required; cpu optional).
    case v1(mounts: [String: String])

    public var name: String {
        switch self {
        case .v2(let mount): "cgroup v2 at \(mount)"
        case .v1(let mounts): "cgroup v1 (" + mounts.sorted { $0.key < $1.key }.map { "\($0.key) at \($0.value)" }.joined(separator: ", ") + ")"
        }
    }

    static let required = ["memory", "pids"]

    /// v2 when a cgroup2 mount offers the controllers (production hosts), else v1 when memory and
    /// pids hierarchies are mounted (hosts with v1 controllers beside an empty cgroup2 mount), else nil.
    static func detect(mountinfo: String, controllers: (String) -> String?) -> CgroupHierarchy? {
        var v1: [String: String] = [:]
        for line in mountinfo.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            guard halves.count == 2 else { continue }
            let fields = halves[0].split(separator: " ")
            let tail = halves[1].split(separator: " ")
            guard fields.count >= 5, tail.count >= 3 else { continue }
            let mountPoint = String(fields[4])
            switch tail[0] {
            case "cgroup2":
                let offered = Set((controllers(mountPoint) ?? "").split(whereSeparator: \.isWhitespace).map(String.init))
                if required.allSatisfy(offered.contains) { return .v2(mount: mountPoint) }
            case "cgroup":
                for option in tail[2].split(separator: ",") where ["memory", "pids", "cpu"].contains(String(option)) {
                    v1[String(option)] = v1[String(option)] ?? mountPoint
                }
            default:
                continue
            }
        }
        return required.allSatisfy { v1[$0] != nil } ? .v1(mounts: v1) : nil
    }

    /// The controller directories a job's cgroup spans (one on v2, one per controller on v1).
    func directories(relative: String) -> [String: String] {
        switch self {
        case .v2(let mount): ["unified": "\(mount)/\(relative)"]
        case .v1(let mounts): mounts.mapValues { "\($0)/\(relative)" }
        }
    }

    /// The files to write, in order: (controller, file, value). `optional` files may be missing
    /// (swap accounting off) without failing the job.
    func limitFiles(_ limits: JobLimits) -> [CgroupWrite] {
        let period = 100_000
        switch self {
        case .v2:
            var writes: [CgroupWrite] = []
            if let memory = limits.memoryBytes {
                writes.append(CgroupWrite("unified", "memory.max", String(memory)))
                writes.append(CgroupWrite("unified", "memory.swap.max", "0", optional: true))
                // An out-of-memory kill takes the whole job, not one random process of it.
                writes.append(CgroupWrite("unified", "memory.oom.group", "1", optional: true))
            }
            if let pids = limits.pids { writes.append(CgroupWrite("unified", "pids.max", String(pids))) }
            if let cpus = limits.cpus { writes.append(CgroupWrite("unified", "cpu.max", "\(Int((cpus * Double(period)).rounded())) \(period)", optional: true)) }
            return writes
        case .v1(let mounts):
            var writes: [CgroupWrite] = []
            if let memory = limits.memoryBytes {
                writes.append(CgroupWrite("memory", "memory.limit_in_bytes", String(memory)))
                writes.append(CgroupWrite("memory", "memory.memsw.limit_in_bytes", String(memory), optional: true))
            }
            if let pids = limits.pids { writes.append(CgroupWrite("pids", "pids.max", String(pids))) }
            if let cpus = limits.cpus, mounts["cpu"] != nil {
                writes.append(CgroupWrite("cpu", "cpu.cfs_period_us", String(period)))
                writes.append(CgroupWrite("cpu", "cpu.cfs_quota_us", String(Int((cpus * Double(period)).rounded()))))
            }
            return writes
        }
    }

    /// Where the kernel counts limit hits: (controller, file, key).
    var memoryEvents: (String, String, String) {
        switch self {
        case .v2: ("unified", "memory.events", "oom_kill")
        case .v1: ("memory", "memory.oom_control", "oom_kill")
        }
    }

    var pidsEvents: (String, String, String) {
        switch self {
        case .v2: ("unified", "pids.events", "max")
        case .v1: ("pids", "pids.events", "max")
        }
    }

    /// `key N` in a flat keyed file (`memory.events`, `pids.events`, `memory.oom_control`); 0 when absent.
    static func counter(_ key: String, in text: String) -> Int {
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, parts[0] == key { return Int(parts[1]) ?? 0 }
        }
        return 0
    }
}

/// One write into a cgroup's interface files.
struct CgroupWrite: Sendable, Equatable {
    var controller: String
    var file: String
    var value: String
    var optional = false

    init(_ controller: String, _ file: String, _ value: String, optional: Bool = false) {
        self.controller = controller
        self.file = file
        self.value = value
        self.optional = optional
    }
}
