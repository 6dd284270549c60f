import ConveyorCore
import Foundation
import Testing
@testable import ConveyorWorker

/// The pure parts of the sandbox: the command line, the cgroup writes, the firewall rules, sizes.
@Suite("Sandbox: mount, limit and network planning")
struct SandboxPlanTests {
    func plan(network: Bool = true, cgroups: Bool = true) -> SandboxPlan {
        var plan = SandboxPlan(uid: 59003, home: "/w/job-1/home", script: "/w/job-1/home/.conveyor-build.sh", network: network)
        plan.readOnly = ["/tmp/repo"]
        plan.hidden = ["/etc/conveyor"]
        plan.overlays = ["/etc/passwd": "/w/job-1/passwd", "/etc/resolv.conf": "/w/job-1/resolv.conf"]
        plan.rootLinks = ["/bin": "usr/bin", "/lib": "usr/lib"]
        plan.cgroupProcs = cgroups ? ["/cg/memory/x/cgroup.procs", "/cg/pids/x/cgroup.procs"] : []
        plan.rlimits = SandboxPlan.rlimits(JobLimits(memoryBytes: 1 << 30, pids: 100))
        return plan
    }

    /// Pairs `flag value value` of bwrap's mount options.
    func mounts(_ args: [String], _ flag: String) -> [String] {
        args.indices.filter { args[$0] == flag && $0 + 2 < args.count }.map { args[$0 + 2] }
    }

    @Test func dropsToTheBuildUidBeforeAnyNamespace() {
        let args = plan().arguments()
        let setpriv = args.firstIndex(of: "/usr/bin/setpriv")!
        let bwrap = args.firstIndex(of: "/usr/bin/bwrap")!
        #expect(setpriv < bwrap)
        #expect(args[setpriv...].prefix(8).contains("--reuid=59003"))
        #expect(args.contains("--regid=59003") && args.contains("--clear-groups") && args.contains("--no-new-privs") && args.contains("--inh-caps=-all"))
        // The cgroups are entered first, by root, so nothing of the job ever runs outside them.
        #expect(args[4...5] == ["/cg/memory/x/cgroup.procs", "/cg/pids/x/cgroup.procs"])
        #expect(args.firstIndex(of: "--")! < setpriv)
    }

    @Test func mountsOnlyWhatABuildNeeds() {
        let args = plan().arguments()
        let readOnly = mounts(args, "--ro-bind")
        let writable = mounts(args, "--bind")
        #expect(writable == ["/w/job-1/home"])
        #expect(Set(readOnly) == ["/usr", "/etc", "/etc/passwd", "/etc/resolv.conf", "/tmp/repo"])
        #expect(!readOnly.contains("/w/job-1"))
        // Secrets under /etc are covered before the overlays and the job start.
        let hide = args.firstIndex(of: "/etc/conveyor")!
        #expect(args[hide - 1] == "--tmpfs" && hide > args.firstIndex(of: "/etc")!)
        #expect(mounts(args, "--symlink").sorted() == ["/bin", "/lib"])
        #expect(args.contains("--die-with-parent") && args.contains("--unshare-pid") && args.contains("--new-session"))
        #expect(args.last == "/w/job-1/home/.conveyor-build.sh")
        #expect(args.firstIndex(of: "--remount-ro")! > args.lastIndex(of: "--bind")!)
    }

    @Test func networkNamespaces() {
        let on = plan(network: true).arguments()
        #expect(on.contains("/usr/bin/unshare") && on.contains("--net"))
        #expect(!on.contains("--unshare-net"))
        #expect(on.contains { $0.contains("/proc/net/route") }, "the script waits for slirp4netns")
        let off = plan(network: false).arguments()
        #expect(!off.contains("/usr/bin/unshare"))
        #expect(off.contains("--unshare-net"))
        #expect(!off.contains { $0.contains("/proc/net/route") })
    }

    @Test func rlimitsOnlyWithoutCgroups() {
        #expect(!plan(cgroups: true).arguments().contains("/usr/bin/prlimit"))
        let args = plan(cgroups: false).arguments()
        #expect(args.contains("/usr/bin/prlimit") && args.contains("--nproc=100") && args.contains("--data=1073741824"))
        #expect(args.firstIndex(of: "/usr/bin/prlimit")! < args.firstIndex(of: "/usr/bin/setpriv")!)
    }

    @Test func passwdNamesTheBuildUser() {
        let host = "root:x:0:0:root:/root:/bin/bash\nold:x:59003:59003::/home/old:/bin/sh\n"
        let passwd = SandboxPlan.passwd(host: host, uid: 59003, home: "/w/h")
        #expect(passwd == "root:x:0:0:root:/root:/bin/bash\nconveyor-build:x:59003:59003:Conveyor build:/w/h:/bin/bash\n")
        #expect(SandboxPlan.group(host: "root:x:0:\n", uid: 59003) == "root:x:0:\nconveyor-build:x:59003:\n")
    }

    // MARK: cgroups

    static let hybrid = """
        25 24 0:22 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate
        26 24 0:23 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd
        29 24 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,memory
        30 24 0:27 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,pids
        31 24 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,cpu,cpuacct
        """

    @Test func detectsV1BesideAnEmptyCgroup2Mount() {
        let found = CgroupHierarchy.detect(mountinfo: Self.hybrid) { $0 == "/sys/fs/cgroup/unified" ? "hugetlb\n" : nil }
        #expect(found == .v1(mounts: ["memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids", "cpu": "/sys/fs/cgroup/cpu,cpuacct"]))
    }

    @Test func prefersV2WithControllers() {
        let v2 = "30 24 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot"
        #expect(CgroupHierarchy.detect(mountinfo: v2) { _ in "cpuset cpu io memory hugetlb pids rdma misc\n" } == .v2(mount: "/sys/fs/cgroup"))
        #expect(CgroupHierarchy.detect(mountinfo: v2) { _ in "cpu io\n" } == nil)
        #expect(CgroupHierarchy.detect(mountinfo: Self.hybrid) { _ in "memory pids\n" } == .v2(mount: "/sys/fs/cgroup/unified"))
    }

    @Test func limitWritesV2() {
        let writes = CgroupHierarchy.v2(mount: "/c").limitFiles(JobLimits(memoryBytes: 4 << 30, pids: 1024, cpus: 1.5))
        #expect(writes.map { "\($0.file)=\($0.value)" } == ["memory.max=4294967296", "memory.swap.max=0", "memory.oom.group=1", "pids.max=1024", "cpu.max=150000 100000"])
        #expect(writes.filter { !$0.optional }.map(\.file) == ["memory.max", "pids.max"])
        #expect(CgroupHierarchy.v2(mount: "/c").limitFiles(JobLimits()).isEmpty)
    }

    @Test func limitWritesV1() {
        let hierarchy = CgroupHierarchy.v1(mounts: ["memory": "/m", "pids": "/p", "cpu": "/c"])
        let writes = hierarchy.limitFiles(JobLimits(memoryBytes: 512 << 20, pids: 50, cpus: 2))
        #expect(writes.map { "\($0.controller)/\($0.file)=\($0.value)" } == [
            "memory/memory.limit_in_bytes=536870912", "memory/memory.memsw.limit_in_bytes=536870912",
            "pids/pids.max=50", "cpu/cpu.cfs_period_us=100000", "cpu/cpu.cfs_quota_us=200000",
        ])
        #expect(hierarchy.directories(relative: "conveyor/n/job-1") == ["memory": "/m/conveyor/n/job-1", "pids": "/p/conveyor/n/job-1", "cpu": "/c/conveyor/n/job-1"])
        let noCPU = CgroupHierarchy.v1(mounts: ["memory": "/m", "pids": "/p"]).limitFiles(JobLimits(cpus: 2))
        #expect(noCPU.isEmpty)
    }

    @Test func countersOfEventFiles() {
        #expect(CgroupHierarchy.counter("oom_kill", in: "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n") == 3)
        #expect(CgroupHierarchy.counter("max", in: "max 12\n") == 12)
        #expect(CgroupHierarchy.counter("oom_kill", in: "low 0\nhigh 0\nmax 4\noom 1\n") == 0)
    }

    // MARK: network rules, sizes, limits

    @Test func firewallRules() {
        let rules = SandboxFirewall.ruleset(uids: 59001...59064, deny: ["169.254.0.0/16", "10.0.0.0/8", "fd00::/8"])
        #expect(rules.contains("meta skuid 59001-59064 fib daddr type local reject"))
        #expect(rules.contains("meta skuid 59001-59064 ip daddr { 169.254.0.0/16, 10.0.0.0/8 } reject"))
        #expect(rules.contains("meta skuid 59001-59064 ip6 daddr { fd00::/8 } reject"))
        // DNS to a local resolver comes before the reject.
        #expect(rules.range(of: "udp dport 53")!.lowerBound < rules.range(of: "type local reject")!.lowerBound)
        #expect(rules.hasPrefix("table inet conveyor_sandbox\ndelete table inet conveyor_sandbox\n"))
    }

    @Test func byteSizes() {
        #expect(ByteSize.parse("4G") == 4 << 30)
        #expect(ByteSize.parse("512M") == 512 << 20)
        #expect(ByteSize.parse("4GiB") == 4 << 30)
        #expect(ByteSize.parse("1.5 g") == 3 << 29)
        #expect(ByteSize.parse("1048576") == 1 << 20)
        #expect(ByteSize.parse("lots") == nil)
        #expect(ByteSize.parse("-1G") == nil)
        #expect(ByteSize.parse("4X") == nil)
        #expect(ByteSize.describe(4 << 30) == "4 GiB")
        #expect(ByteSize.describe(3 << 29) == "1.5 GiB")
        #expect(ByteSize.describe(300) == "300 bytes")
    }

    @Test func repositoryLimitsOverTheNodes() throws {
        let empty = NSTemporaryDirectory() + "conveyor-empty-\(UUID().uuidString).yml"
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: empty) }
        var settings = try SettingsLoader.load(file: empty, environment: ["CONVEYOR_JOB_MEMORY_LIMIT": "2G", "CONVEYOR_JOB_PIDS_LIMIT": "300", "CONVEYOR_JOB_CPU_LIMIT": "1.5"])
        #expect(settings.jobMemoryLimit == 2 << 30 && settings.jobPidsLimit == 300 && settings.jobCpuLimit == 1.5 && settings.jobDiskLimit == nil)
        settings.jobDiskLimit = 10 << 30
        let limits = JobLimits.defaults(settings).overridden(memory: "8G", pids: nil, cpus: 4, disk: "nonsense")
        #expect(limits.memoryBytes == 8 << 30 && limits.pids == 300 && limits.cpus == 4 && limits.diskBytes == 10 << 30)
        #expect(limits.notes == ["the repository's job_disk_limit 'nonsense' is not a size; the node's applies"])
        #expect(limits.summary == "memory 8 GiB, 300 processes, 4 CPUs, disk 10 GiB")
        #expect(throws: SettingsError.self) { try SettingsLoader.load(file: empty, environment: ["CONVEYOR_JOB_MEMORY_LIMIT": "much"]) }
        #expect(try SettingsLoader.load(file: empty, environment: ["CONVEYOR_JOB_MEMORY_LIMIT": "none"]).jobMemoryLimit == nil)
    }

    @Test func limitHitsEndTheJobFailed() {
        let end = AttemptEnd.decide(stop: nil, outcome: .success(.limitExceeded(.memory(4 << 30))))
        #expect(end == .finished(.failed, reason: "memory_limit", trailer: "\n\nThe job exceeded its memory limit of 4 GiB; it was stopped.\n"))
    }
}
