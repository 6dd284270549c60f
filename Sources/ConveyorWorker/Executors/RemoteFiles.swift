import ConveyorModel
import ConveyorSSH
import Foundation
import Synchronization

/// `JobFiles` over an SSH session, in the job's remote directory (docs/cache.md): inputs uploaded before
/// the directory is given to the build user; outputs read back after the script, only a regular file
/// reached through no symlink, at most `maxBytes`. The job's processes are gone by then when it runs
/// confined (`ssh_build_user`, its own PID namespace); unconfined, a process it left could still swap a
/// path, which is why the checks run in the same remote command as the read.
struct RemoteFiles {
    let session: SSHSession
    let directory: String

    func place(_ files: JobFiles) async throws {
        for input in files.inputs {
            let target = "\(directory)/\(input.path)"
            let parent = (target as NSString).deletingLastPathComponent
            let made = try await session.execute("mkdir -m 700 -p \(try SSHExecutor.quote(parent))")
            guard made.status == 0 else { throw ExecutorError(reason: "ssh_failed", "mkdir \(parent): \(made.stderr)") }
            let bytes: [UInt8]
            switch input.contents {
            case .file(let source): bytes = try await offPool("job-input") { Array(try Data(contentsOf: URL(fileURLWithPath: source))) }
            case .text(let text): bytes = Array(text.utf8)
            }
            try await session.upload(bytes, to: target, mode: 0o600)
        }
    }

    /// Lines for the job's log about outputs refused or lost; nothing when all went well or nothing was there.
    func collect(_ files: JobFiles) async -> [String] {
        var notes: [String] = []
        for output in files.outputs {
            do {
                _ = try await offPool("job-output") { unlink(output.destination) }
                guard let bytes = try await read(output.path, maxBytes: output.maxBytes) else { continue }
                guard Int64(bytes.count) <= output.maxBytes else {
                    notes.append("conveyor: \(output.path) is more than the \(output.maxBytes) bytes allowed; not taken\n")
                    continue
                }
                try await offPool("job-output") { try Data(bytes).write(to: URL(fileURLWithPath: output.destination)) }
            } catch {
                notes.append("conveyor: \(output.path) could not be taken: \(error)\n")
            }
        }
        return notes
    }

    /// The file's first `maxBytes + 1` bytes, nil when it is missing or not a plain file on a plain path.
    private func read(_ path: String, maxBytes: Int64) async throws -> [UInt8]? {
        var checks: [String] = []
        var prefix = ""
        for component in path.split(separator: "/") {
            guard component != "..", component != "." else { return nil }
            prefix += prefix.isEmpty ? String(component) : "/\(component)"
            checks.append("[ ! -L \(try SSHExecutor.quote(prefix)) ]")
        }
        let file = try SSHExecutor.quote(path)
        let command = "cd \(try SSHExecutor.quote(directory)) && \(checks.joined(separator: " && ")) && [ -f \(file) ] && exec head -c \(maxBytes + 1) -- \(file)"
        let collected = Mutex<[UInt8]>([])
        let run = try await session.run(command) { stream, bytes in
            guard stream == .stdout else { return }
            collected.withLock { buffer in if Int64(buffer.count) <= maxBytes { buffer += bytes } }
        }
        let status = try await run.wait()
        return status == 0 ? collected.withLock { $0 } : nil
    }
}
