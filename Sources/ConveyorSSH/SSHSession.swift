import CLibSSH2
import ConveyorThreads

/// One authenticated SSH connection, confined to its own thread.
///
/// Every libssh2 call runs on the session's `DedicatedThread`; the methods here are `async` and
/// suspend the caller meanwhile. Several commands may run at once on one session, each on its own
/// channel. Call `close()` when done.
public final class SSHSession: Sendable {
    let thread: DedicatedThread
    let handle: SessionHandle
    public let target: SSHTarget
    private let closed = ClosedFlag()

    private init(thread: DedicatedThread, handle: SessionHandle, target: SSHTarget) {
        self.thread = thread
        self.handle = handle
        self.target = target
    }

    deinit { assert(closed.isSet, "SSHSession to \(target.host) was not closed") }

    /// Connects with a timeout, checks the host key against `knownHostsPath` and authenticates.
    public static func connect(_ target: SSHTarget) async throws -> SSHSession {
        let thread = DedicatedThread(name: "ssh:\(target.host):\(target.port)")
        do {
            let handle = try await thread.run { try SessionHandle.open(target, thread: thread) }
            return SSHSession(thread: thread, handle: handle, target: target)
        } catch {
            thread.shutdown()
            throw error
        }
    }

    /// Starts `command` and streams its output to `onOutput` as it arrives (called on the session's
    /// thread, in order per stream: keep it short). Stdin is closed at once.
    public func run(
        _ command: String,
        onOutput: @escaping @Sendable (SSHOutputStream, [UInt8]) -> Void
    ) async throws -> SSHRun {
        let pidFile = RemoteCommand.newPidFile()
        let state = try await start(RemoteCommand.wrapped(command, pidFile: pidFile), stdin: [],
                                    deadline: nil, pidFile: pidFile, onOutput: onOutput)
        return SSHRun(session: self, state: state)
    }

    /// Writes `bytes` to `remotePath` (created or replaced, then chmod `mode`) within the target's
    /// operation timeout.
    public func upload(_ bytes: [UInt8], to remotePath: String, mode: Int32 = 0o700) async throws {
        let errors = OutputCollector()
        let state = try await start(RemoteCommand.upload(to: remotePath, mode: mode), stdin: bytes,
                                    deadline: .now + target.operationTimeout, pidFile: "",
                                    onOutput: { stream, bytes in if stream == .stderr { errors.append(bytes) } })
        let status = try await SSHRun(session: self, state: state).wait()
        guard status == 0 else {
            throw SSHError("upload to \(remotePath) failed with status \(status): \(errors.text)")
        }
    }

    /// Runs `command` to completion within the operation timeout and returns its status and output
    /// (for short helpers; the output is kept in memory).
    public func execute(_ command: String) async throws -> (status: Int32, stdout: String, stderr: String) {
        let stdout = OutputCollector(), stderr = OutputCollector()
        let state = try await start(command, stdin: [], deadline: .now + target.operationTimeout, pidFile: "",
                                    onOutput: { stream, bytes in (stream == .stdout ? stdout : stderr).append(bytes) })
        let status = try await SSHRun(session: self, state: state).wait()
        return (status, stdout.text, stderr.text)
    }

    /// Closes every channel and the connection, then stops the thread. Running commands' `wait()`
    /// fails with "session closed".
    public func close() async {
        _ = await thread.run { [handle] in handle.release() }
        thread.shutdown()
        closed.set()
    }

    private func start(
        _ command: String, stdin: [UInt8], deadline: ContinuousClock.Instant?, pidFile: String,
        onOutput: @escaping @Sendable (SSHOutputStream, [UInt8]) -> Void
    ) async throws -> RunState {
        try await thread.run { [handle] in
            guard !handle.closed else { throw SSHError("session closed") }
            let until = handle.deadline()
            let channel = try handle.retryPointer("opening a channel", until: until) {
                cv_ssh2_channel_open_session(handle.session)
            }
            do {
                try handle.retry("starting the command", until: until) { cv_ssh2_channel_exec(channel, command) }
            } catch {
                _ = try? handle.retry("freeing a channel", until: .now + .seconds(2)) { libssh2_channel_free(channel) }
                throw error
            }
            let state = RunState(channel: channel, stdin: stdin, deadline: deadline, pidFile: pidFile,
                                 onOutput: onOutput)
            handle.add(state)
            return state
        }
    }
}
