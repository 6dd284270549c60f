import ConveyorThreads
import Foundation
import Synchronization

/// A command started by `SSHSession.run`.
public final class SSHRun: Sendable {
    let session: SSHSession
    let state: RunState

    init(session: SSHSession, state: RunState) {
        self.session = session
        self.state = state
    }

    /// Waits until the command ends and all its output was delivered; returns its exit status
    /// (128 + signal number when a signal ended it). Cancelling the waiting task does not stop the
    /// remote command: call `terminate()` for that.
    public func wait() async throws -> Int32 {
        let state = self.state
        return try await withCheckedThrowingContinuation { continuation in
            let submitted = session.thread.submit {
                if case .finished(let result) = state.phase {
                    continuation.resume(with: result.mapError { $0 as any Error })
                } else {
                    state.waiters.append(continuation)
                }
            }
            if !submitted { continuation.resume(throwing: SSHError("session closed")) }
        }
    }

    /// Stops the remote process group: SIGTERM, then SIGKILL after 2 s, sent on a second channel.
    /// Returns once the signals were sent; `wait()` then reports how the command ended.
    public func terminate() async {
        guard !state.pidFile.isEmpty else { return }
        _ = try? await session.execute(RemoteCommand.terminate(pidFile: state.pidFile))
    }
}

/// Collects bytes delivered on the session thread for reading afterwards.
final class OutputCollector: Sendable {
    private let bytes = Mutex<[UInt8]>([])

    func append(_ chunk: [UInt8]) {
        bytes.withLock { $0 += chunk }
    }

    var text: String {
        bytes.withLock { String(decoding: $0, as: UTF8.self) }
    }
}
