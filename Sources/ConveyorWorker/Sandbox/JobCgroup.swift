import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The node's cgroup directory for jobs (`<mount>/conveyor/<node>` per controller) and the jobs'
/// cgroups below it. Every method does blocking file system calls: call it from `offPool`.
struct CgroupManager: Sendable {
    let hierarchy: CgroupHierarchy
    let relative: String

    /// Detects the hierarchy, makes the node's directory and enables the controllers for it.
    /// Throws a reason when no cgroup is writable here (the caller falls back to rlimits).
    static func prepare(node: String) throws -> CgroupManager {
        let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        guard let hierarchy = CgroupHierarchy.detect(mountinfo: mountinfo, controllers: {
            try? String(contentsOfFile: "\($0)/cgroup.controllers", encoding: .utf8)
        }) else {
            throw WorkerError("no cgroup v2 mount with the memory and pids controllers and no v1 memory and pids hierarchies are mounted")
        }
        let relative = "conveyor/" + String(node.map { $0.isLetter || $0.isNumber || "._-".contains($0) ? $0 : "_" })
        try ensure(hierarchy, relative)
        let manager = CgroupManager(hierarchy: hierarchy, relative: relative)
        manager.removeLeftovers()
        manager.removeIdleSiblings()
        return manager
    }

    /// Directories of nodes that are gone (a default node id changes with each start): removing a
    /// cgroup fails while it has jobs or processes, so only idle ones go.
    func removeIdleSiblings() {
        for parent in hierarchy.directories(relative: "conveyor").values {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where "conveyor/" + name != relative {
                _ = rmdir("\(parent)/\(name)")
            }
        }
    }

    /// Makes the node's directory (again: another node of the host may have removed it while idle)
    /// with the controllers enabled on the way down.
    static func ensure(_ hierarchy: CgroupHierarchy, _ relative: String) throws {
        switch hierarchy {
        case .v2(let mount):
            // Controllers must be enabled at every level above a job's cgroup; the groups in
            // between hold no processes, as cgroup v2 requires.
            var path = mount
            for component in [""] + relative.split(separator: "/").map(String.init) {
                if !component.isEmpty {
                    path += "/" + component
                    try makeDirectory(path)
                }
                try write("+memory +pids", to: path + "/cgroup.subtree_control")
                try? write("+cpu", to: path + "/cgroup.subtree_control")
            }
        case .v1(let mounts):
            for mount in mounts.values {
                var path = mount
                for component in relative.split(separator: "/") {
                    path += "/" + component
                    try makeDirectory(path)
                }
            }
        }
    }

    /// Cgroups of a previous life of this node: their processes are killed, the groups removed.
    func removeLeftovers() {
        let directories = hierarchy.directories(relative: relative)
        let names = Set(directories.values.flatMap { (try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? [] }.filter { $0.hasPrefix("job-") })
        for name in names {
            JobCgroup(hierarchy: hierarchy, directories: hierarchy.directories(relative: relative + "/" + name)).destroy()
        }
    }

    func create(_ name: String, limits: JobLimits) throws -> JobCgroup {
        let directories = hierarchy.directories(relative: relative + "/" + name)
        do {
            for directory in directories.values { try Self.makeDirectory(directory) }
        } catch {
            try Self.ensure(hierarchy, relative)
            for directory in directories.values { try Self.makeDirectory(directory) }
        }
        let group = JobCgroup(hierarchy: hierarchy, directories: directories)
        do {
            for change in hierarchy.limitFiles(limits) {
                guard let directory = directories[change.controller] else { continue }
                do {
                    try Self.write(change.value, to: "\(directory)/\(change.file)")
                } catch where change.optional {
                    continue
                }
            }
        } catch {
            group.destroy()
            throw error
        }
        return group
    }

    static func makeDirectory(_ path: String) throws {
        if mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw WorkerError("cannot create the cgroup \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Cgroup interface files take one value per write(2).
    static func write(_ value: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw WorkerError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw WorkerError("cannot write '\(value)' to \(path): \(String(cString: strerror(errno)))") }
    }
}

/// One job's cgroup: its processes are placed in it before the job starts (see `SandboxPlan`);
/// at the end everything in it is killed and the group removed.
struct JobCgroup: Sendable {
    let hierarchy: CgroupHierarchy
    /// controller (or "unified") → directory
    let directories: [String: String]

    /// The `cgroup.procs` files a process writes its pid to, to enter the job's cgroup.
    var procsFiles: [String] { directories.values.sorted().map { $0 + "/cgroup.procs" } }

    /// The first limit the kernel reports as hit.
    func limitHit(_ limits: JobLimits) -> LimitHit? {
        if let memory = limits.memoryBytes, count(hierarchy.memoryEvents) > 0 { return .memory(memory) }
        if let pids = limits.pids, count(hierarchy.pidsEvents) > 0 { return .pids(pids) }
        return nil
    }

    private func count(_ source: (String, String, String)) -> Int {
        guard let directory = directories[source.0],
              let text = try? String(contentsOfFile: "\(directory)/\(source.1)", encoding: .utf8) else { return 0 }
        return CgroupHierarchy.counter(source.2, in: text)
    }

    var isEmpty: Bool { pids().isEmpty }

    func pids() -> [pid_t] {
        directories.values.flatMap { directory -> [pid_t] in
            ((try? String(contentsOfFile: directory + "/cgroup.procs", encoding: .utf8)) ?? "")
                .split(separator: "\n").compactMap { pid_t($0) }
        }
    }

    /// Kills every process in the group (`cgroup.kill` where the kernel has it, else SIGKILL to each
    /// member until none is left: a fork racing the kill is caught in the next round). True when empty.
    @discardableResult
    func killAll(rounds: Int = 200) -> Bool {
        if let unified = directories["unified"] { try? CgroupManager.write("1", to: unified + "/cgroup.kill") }
        for _ in 0..<rounds {
            let members = pids()
            if members.isEmpty { return true }
            for pid in members { kill(pid, SIGKILL) }
            usleep(10_000)
        }
        return pids().isEmpty
    }

    /// Kills what is left and removes the group (a group can only be removed once empty).
    func destroy() {
        killAll()
        for directory in directories.values {
            for _ in 0..<50 {
                if rmdir(directory) == 0 || errno == ENOENT { break }
                usleep(20_000)
            }
        }
    }
}
