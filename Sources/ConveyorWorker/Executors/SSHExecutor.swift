import ConveyorModel
import ConveyorSSH
import ConveyorThreads
import Foundation

/// Runs the script on a build host over SSH: a fresh remote directory per job, the script uploaded
/// there and run by bash with stderr merged into stdout (so the log keeps the order), the remote process
/// group terminated on cancel, the directory removed afterwards.
///
/// Confined (docs/security.md), the script runs as `buildUser` (the ssh user must then be root) in a
/// PID namespace of its own: when the script ends or the session drops, everything it started is
/// killed by the kernel, so a job cannot leave a daemon on the build host.
public struct SSHExecutor: Executor {
    public let target: SSHTarget
    /// The remote account jobs run as (ssh_build_user); nil runs them as the ssh user.
    public let buildUser: String?
    /// Whether the script gets its own PID namespace (off in VMs, which are thrown away anyway).
    public let confine: Bool

    public init(target: SSHTarget, buildUser: String? = nil, confine: Bool = true) {
        self.target = target
        self.buildUser = buildUser
        self.confine = confine
    }

    public var name: String { "ssh \(target.user)@\(target.host):\(target.port)" }

    public func run(_ job: ExecutionJob, started: @escaping @Sendable () async -> Void,
                    output: @escaping @Sendable ([UInt8]) -> Void) async throws -> ExecutionOutcome {
        let session: SSHSession
        do {
            session = try await SSHSession.connect(target)
        } catch {
            throw ExecutorError(reason: "ssh_unreachable", "could not connect to \(name): \(error)")
        }
        do {
            let outcome = try await run(job, on: session, started: started, output: output)
            await session.close()
            return outcome
        } catch {
            await session.close()
            throw error
        }
    }

    /// Runs `job` on an open session (the libvirt executor reuses this once its VM answers).
    func run(_ job: ExecutionJob, on session: SSHSession, started: @escaping @Sendable () async -> Void,
             output: @escaping @Sendable ([UInt8]) -> Void) async throws -> ExecutionOutcome {
        let directory = "/tmp/conveyor-\(job.id)-\(job.attempt)-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        do {
            let made = try await session.execute("mkdir -m 700 -p \(try Self.quote(directory))")
            guard made.status == 0 else { throw ExecutorError(reason: "ssh_failed", "mkdir \(directory): \(made.stderr)") }
            try await session.upload(Array(job.script.utf8), to: "\(directory)/build.sh")
            if !job.readOnlyPaths.isEmpty {
                // A `file://` repository belongs to another user: git refuses it unless listed as safe.
                let safe = job.readOnlyPaths.flatMap { ["\tdirectory = \($0)", "\tdirectory = \($0)/.git"] }.joined(separator: "\n")
                try await session.upload(Array("[safe]\n\(safe)\n".utf8), to: "\(directory)/.gitconfig")
            }
            try await RemoteFiles(session: session, directory: directory).place(job.files)
            if let buildUser {
                let given = try await session.execute("chown -R \(try Self.quote(buildUser)): \(try Self.quote(directory))")
                guard given.status == 0 else {
                    throw ExecutorError(reason: "ssh_failed", "cannot give \(directory) to the build user \(buildUser) (ssh_build_user needs ssh_user root): \(given.stderr)")
                }
            }
        } catch let error as ExecutorError {
            throw error
        } catch {
            throw ExecutorError(reason: "ssh_failed", "could not upload the build script: \(error)")
        }
        await started()
        return try await withCleanup {
            try await runScript(job, in: directory, on: session, output: output)
        } cleanup: {
            _ = try? await session.execute("rm -rf \(try Self.quote(directory))")
        }
    }

    /// Runs the uploaded script in `directory` until it ends; cancelling terminates it.
    private func runScript(_ job: ExecutionJob, in directory: String, on session: SSHSession,
                           output: @escaping @Sendable ([UInt8]) -> Void) async throws -> ExecutionOutcome {
        try Task.checkCancellation()
        let command: String
        do {
            command = try Self.command(job, directory: directory, buildUser: buildUser, confine: confine)
        } catch {
            throw ExecutorError(reason: "ssh_failed", "could not build the remote command: \(error)")
        }
        let status: Int32
        do {
            let remote = try await session.run(command) { _, bytes in output(bytes) }
            status = try await withTaskCancellationHandler {
                try await remote.wait()
            } onCancel: {
                Task { await remote.terminate() }
            }
        } catch {
            throw ExecutorError(reason: "ssh_lost", "the connection to \(name) failed during the job: \(error)")
        }
        if !job.files.outputs.isEmpty, !Task.isCancelled {
            for note in await RemoteFiles(session: session, directory: directory).collect(job.files) { output(Array(note.utf8)) }
        }
        return .exited(status)
    }

    static func command(_ job: ExecutionJob, directory: String, buildUser: String? = nil, confine: Bool = false) throws(ShellQuotingError) -> String {
        var env = ["CI": "true", "CONTINUOUS_INTEGRATION": "true", "CONVEYOR": "true", "TRAVIS": "true",
                   "CONVEYOR_JOB_ID": String(job.id), "CONVEYOR_ATTEMPT": String(job.attempt), "GIT_TERMINAL_PROMPT": "0"]
        if buildUser != nil || !job.readOnlyPaths.isEmpty { env["HOME"] = directory }
        if let buildUser { env["USER"] = buildUser; env["LOGNAME"] = buildUser }
        env.merge(job.environment) { _, new in new }
        var exports: [String] = []
        for (name, value) in env.sorted(by: { $0.key < $1.key }) { exports.append("export \(name)=\(try quote(value))") }
        // runuser sets HOME to the build user's own (often /nonexistent): the job's directory is set again after it.
        let home = buildUser != nil ? "env HOME=\(try quote(directory)) " : ""
        return "cd \(try quote(directory)) && \(exports.joined(separator: "; ")); exec \(try confinement(buildUser: buildUser, confine: confine))\(home)/bin/bash build.sh 2>&1"
    }

    /// `runuser` to the build user, then `unshare` into a PID namespace whose processes all die with
    /// the script (`--kill-child` also kills it when the session drops).
    static func confinement(buildUser: String?, confine: Bool) throws(ShellQuotingError) -> String {
        var prefix = ""
        if let buildUser { prefix += "runuser -u \(try quote(buildUser)) -- " }
        if confine { prefix += "unshare --user --map-current-user --pid --fork --kill-child --mount-proc -- " }
        return prefix
    }

    static func quote(_ text: String) throws(ShellQuotingError) -> String {
        try ShellQuoting.singleQuoted(text)
    }
}
