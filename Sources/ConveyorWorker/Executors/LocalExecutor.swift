import Foundation

/// Runs the script with bash on this host: a fresh work directory per job
/// (`<root>/<job>-<attempt>-<random>`), confined by `sandbox`, the whole process group killed at the
/// end, the directory removed afterwards.
public struct LocalExecutor: Executor {
    public let root: String
    public let sandbox: Sandbox

    public init(root: String, sandbox: Sandbox) {
        self.root = root
        self.sandbox = sandbox
    }

    public var name: String { "local (\(sandbox.name))" }

    public func run(_ job: ExecutionJob, started: @escaping @Sendable () async -> Void,
                    output: @escaping @Sendable ([UInt8]) -> Void) async throws -> ExecutionOutcome {
        let directory = "\(root)/\(job.id)-\(job.attempt)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        let script = "\(directory)/.conveyor-build.sh"
        try await offPool("job-prepare") { [path = script, body = job.script] in
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
                try Data(body.utf8).write(to: URL(fileURLWithPath: path))
            } catch {
                throw ExecutorError("could not prepare the work directory \(directory): \(error)")
            }
        }
        do {
            let outcome = try await execute(job, script: script, directory: directory, started: started, output: output)
            await remove(directory)
            return outcome
        } catch {
            await remove(directory)
            throw error
        }
    }

    private func execute(_ job: ExecutionJob, script: String, directory: String, started: @escaping @Sendable () async -> Void,
                         output: @escaping @Sendable ([UInt8]) -> Void) async throws -> ExecutionOutcome {
        await started()
        try Task.checkCancellation()
        let command = sandbox.command(script: script, directory: directory, readOnly: job.readOnlyPaths)
        let process = try SpawnedProcess.spawn(command, environment: Self.environment(job, home: directory),
                                               output: output)
        return await withTaskCancellationHandler {
            await process.wait()
        } onCancel: {
            process.terminate(grace: job.killGrace)
        }
    }

    private func remove(_ directory: String) async {
        // Best effort: a job may leave files it made unremovable; the next job gets a fresh directory anyway.
        _ = try? await offPool("job-cleanup") { try FileManager.default.removeItem(atPath: directory) }
    }

    /// A clean environment: nothing of the node's own (credentials, URLs) leaks into builds.
    static func environment(_ job: ExecutionJob, home: String) -> [String: String] {
        var env = [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": home, "USER": "conveyor", "SHELL": "/bin/bash", "TMPDIR": "/tmp",
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "xterm",
            "CI": "true", "CONTINUOUS_INTEGRATION": "true", "CONVEYOR": "true", "TRAVIS": "true",
            "GIT_TERMINAL_PROMPT": "0",
            "CONVEYOR_JOB_ID": String(job.id), "CONVEYOR_ATTEMPT": String(job.attempt),
        ]
        env.merge(job.environment) { _, new in new }
        return env
    }
}
