import ConveyorThreads
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs the script with bash on this host (docs/security.md). Sandboxed, each job gets a build uid
/// of its own, a box `<root>/job-<id>-<attempt>-<random>` (root-owned; its `home` belongs to the
/// build uid and is the only writable place the job sees), a cgroup with the job's limits, and a
/// bubblewrap sandbox. When the script ends, every process of the job's cgroup and uid is killed
/// and the box removed. Without a sandbox (development only) the script runs as the node's user.
public struct LocalExecutor: Executor {
    public let root: String
    public let sandbox: Sandbox
    private let host = PreparedHost()

    public init(root: String, sandbox: Sandbox) {
        self.root = root
        self.sandbox = sandbox
    }

    public var name: String { "local (\(sandbox.name))" }

    /// Checks the host and sets up cgroups and the network rules; returns what is weaker than it should
    /// be (for the node's start log and `/readyz`). Throws when jobs cannot run here.
    public func prepare() async throws -> [String] {
        let root = self.root
        try await offPool("worker-prepare") {
            do {
                try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
                // Build uids pass through (bwrap resolves the job's box as them) but cannot list it.
                if case .bubblewrap = sandbox.kind { chmod(root, 0o711) }
            } catch {
                throw WorkerError("work directory \(root) cannot be created: \(error)")
            }
            guard case .bubblewrap = sandbox.kind else { return }
            var ancestor = URL(fileURLWithPath: root).standardizedFileURL
            while ancestor.path != "/" {
                ancestor.deleteLastPathComponent()
                var info = stat()
                if stat(ancestor.path, &info) == 0, info.st_mode & 0o001 == 0 {
                    throw WorkerError("work directory \(root): \(ancestor.path) is not searchable by other users; jobs run as build uids and must reach their directories (chmod o+x \(ancestor.path), docs/security.md)")
                }
            }
        }
        guard case .bubblewrap = sandbox.kind else { return [] }
        return try await host.get(sandbox).warnings
    }

    public func run(_ job: ExecutionJob, started: @escaping @Sendable () async -> Void,
                    output: @escaping @Sendable ([UInt8]) -> Void) async throws -> ExecutionOutcome {
        guard case .bubblewrap = sandbox.kind else { return try await runUnconfined(job, started: started, output: output) }
        let prepared = try await host.get(sandbox)
        let box = JobBox(root: root, name: "job-\(job.id)-\(job.attempt)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))")
        let uid = try await offPool("job-user") { try prepared.users.acquire() }
        var cgroup: JobCgroup?
        var note: String?
        var plan = SandboxPlan(uid: uid, home: box.home, script: box.script, network: sandbox.network)
        do {
            (cgroup, note, plan) = try await offPool("job-prepare") { [plan, sandbox] () -> (JobCgroup?, String?, SandboxPlan) in
                let note = try box.create(uid: uid, script: job.script, readOnly: job.readOnlyPaths, network: sandbox.network,
                                          diskBytes: job.limits.diskBytes)
                try job.files.place(in: box.home, uid: uid)
                let cgroup = try prepared.cgroups?.create(box.name, limits: job.limits)
                var plan = plan
                plan.tools.bwrap = sandbox.bwrapPath
                plan.readOnly = job.readOnlyPaths.filter { FileManager.default.fileExists(atPath: $0) }
                plan.hidden = sandbox.hiddenPaths.filter { FileManager.default.fileExists(atPath: $0) }
                plan.overlays = box.overlays(network: sandbox.network)
                plan.rootLinks = SandboxHost.rootLinks()
                plan.cgroupProcs = cgroup?.procsFiles ?? []
                plan.rlimits = SandboxPlan.rlimits(job.limits)
                return (cgroup, note, plan)
            }
        } catch {
            await finish(box: box, cgroup: cgroup, uid: uid, users: prepared.users)
            throw ExecutorError("could not prepare the job's sandbox: \(error)")
        }

        let outcome: ExecutionOutcome
        do {
            await started()
            if let note { output(Array(note.utf8)) }
            try Task.checkCancellation()
            outcome = try await execute(plan, job: job, cgroup: cgroup, output: output)
        } catch {
            await finish(box: box, cgroup: cgroup, uid: uid, users: prepared.users)
            throw error
        }
        let hit = await finish(box: box, cgroup: cgroup, uid: uid, users: prepared.users, limits: job.limits, files: job.files, output: output)
        return hit.map(ExecutionOutcome.limitExceeded) ?? outcome
    }

    private func execute(_ plan: SandboxPlan, job: ExecutionJob, cgroup: JobCgroup?,
                         output: @escaping @Sendable ([UInt8]) -> Void) async throws -> ExecutionOutcome {
        let process = try SpawnedProcess.spawn(plan.arguments(), environment: Self.environment(job, home: plan.home), output: output)
        var network: SpawnedProcess?
        if plan.network {
            do {
                network = try await SandboxNetwork.attach(to: process.pid, uid: plan.uid, cgroupProcs: plan.cgroupProcs)
            } catch {
                output(Array("conveyor: could not start the job's network: \(error)\n".utf8))
            }
        }
        let outcome = await withTaskCancellationHandler {
            await process.wait()
        } onCancel: {
            process.terminate(grace: job.killGrace)
        }
        network?.terminate(grace: .milliseconds(100))
        _ = await network?.wait()
        return outcome
    }

    /// Kills everything the job left (its cgroup, then anything still running as its uid), reads
    /// which limit it hit, takes the job's output files (once it ran to its end), removes its cgroup
    /// and box, frees the uid.
    @discardableResult
    private func finish(box: JobBox, cgroup: JobCgroup?, uid: Int, users: BuildUsers, limits: JobLimits? = nil,
                        files: JobFiles? = nil, output: (@Sendable ([UInt8]) -> Void)? = nil) async -> LimitHit? {
        (try? await offPool("job-cleanup") { () -> LimitHit? in
            cgroup?.killAll()
            BuildUsers.killProcesses(of: uid)
            for note in files?.collect(from: box.home) ?? [] { output?(Array(note.utf8)) }
            var hit = limits.flatMap { cgroup?.limitHit($0) }
            if hit == nil, let disk = limits?.diskBytes, JobDisk.full(box.home) { hit = .disk(disk) }
            cgroup?.destroy()
            box.remove()
            users.release(uid)
            return hit
        }) ?? nil
    }

    // MARK: - Without a sandbox

    private func runUnconfined(_ job: ExecutionJob, started: @escaping @Sendable () async -> Void,
                               output: @escaping @Sendable ([UInt8]) -> Void) async throws -> ExecutionOutcome {
        let directory = "\(root)/\(job.id)-\(job.attempt)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        let script = "\(directory)/.conveyor-build.sh"
        try await offPool("job-prepare") { [path = script, body = job.script] in
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
                try Data(body.utf8).write(to: URL(fileURLWithPath: path))
                try job.files.place(in: directory, uid: nil)
            } catch {
                throw ExecutorError("could not prepare the work directory \(directory): \(error)")
            }
        }
        return try await withCleanup {
            await started()
            try Task.checkCancellation()
            let command = ["/bin/bash", "-c", #"cd -- "$0" && exec /bin/bash "$1""#, directory, script]
            let process = try SpawnedProcess.spawn(command, environment: Self.environment(job, home: directory), output: output)
            let outcome = await withTaskCancellationHandler {
                await process.wait()
            } onCancel: {
                process.terminate(grace: job.killGrace)
            }
            if !job.files.outputs.isEmpty, !Task.isCancelled {
                for note in (try? await offPool("job-collect") { job.files.collect(from: directory) }) ?? [] { output(Array(note.utf8)) }
            }
            return outcome
        } cleanup: {
            _ = try? await offPool("job-cleanup") { try FileManager.default.removeItem(atPath: directory) }
        }
    }

    /// A clean environment: nothing of the node's own (credentials, URLs) leaks into builds.
    static func environment(_ job: ExecutionJob, home: String) -> [String: String] {
        var env = [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": home, "USER": "conveyor-build", "LOGNAME": "conveyor-build", "SHELL": "/bin/bash", "TMPDIR": "/tmp",
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm",
            "CI": "true", "CONTINUOUS_INTEGRATION": "true", "CONVEYOR": "true", "TRAVIS": "true",
            "GIT_TERMINAL_PROMPT": "0",
            "CONVEYOR_JOB_ID": String(job.id), "CONVEYOR_ATTEMPT": String(job.attempt),
        ]
        env.merge(job.environment) { _, new in new }
        return env
    }
}

/// The sandbox host, prepared once (by the worker service at start, or by the first job).
private final class PreparedHost: Sendable {
    private let state = Mutex<SandboxHost?>(nil)

    func get(_ sandbox: Sandbox) async throws -> SandboxHost {
        if let host = state.withLock({ $0 }) { return host }
        let host = try await SandboxHost.prepare(sandbox)
        return state.withLock { current in
            if let current { return current }
            current = host
            return host
        }
    }
}
