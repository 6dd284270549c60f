import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Hands the spawned process (or the failure) from the spawning thread to the caller.
private final class SpawnHandoff: Sendable {
    private let ready = DispatchSemaphore(value: 0)
    private let value = Mutex<Result<SpawnedProcess?, any Error>>(.success(nil))

    func put(_ result: Result<SpawnedProcess?, any Error>) {
        value.withLock { $0 = result }
        ready.signal()
    }

    func take() throws -> SpawnedProcess? {
        ready.wait()
        return try value.withLock { $0 }.get()
    }
}

/// A child process that leads its own process group, with stdout and stderr merged into one pipe.
///
/// One dedicated thread per process polls the pipe, delivers output in order, reaps the child with
/// `waitpid(WNOHANG)` and enforces the SIGKILL deadline after a `terminate`. When the child exits, what
/// is left of its group is killed, so no stray process outlives the job.
final class SpawnedProcess: Sendable {
    private enum Phase {
        /// `killAt`: when to SIGKILL the group, after a `terminate`.
        case running(killAt: ContinuousClock.Instant?)
        /// Reaped (and its group killed); output left in the pipe is still being read.
        case reaped(ExecutionOutcome)
        /// Reaped and all output delivered: `wait` answers at once.
        case finished(ExecutionOutcome)
    }

    private struct State {
        var phase = Phase.running(killAt: nil)
        var waiters: [CheckedContinuation<ExecutionOutcome, Never>] = []
    }

    let pid: pid_t
    /// The pipe's read end is not here: only the reader thread has it.
    private let state = Mutex(State())

    private init(pid: pid_t) {
        self.pid = pid
    }

    /// Starts `arguments[0]` (an absolute path) with exactly `environment`.
    ///
    /// The child is spawned by the thread that then watches it: a parent-death signal (bwrap's
    /// `--die-with-parent`) fires when the spawning *thread* ends, and pool threads come and go.
    static func spawn(_ arguments: [String], environment: [String: String],
                      output: @escaping @Sendable ([UInt8]) -> Void) throws -> SpawnedProcess {
        let spawned = SpawnHandoff()
        let thread = Thread {
            var fds: [Int32] = [-1, -1]
            let result = Result { () throws -> pid_t in
                try SpawnLock.lock.withLock { _ in
                    guard pipe(&fds) == 0 else { throw ExecutorError("pipe failed: \(String(cString: strerror(errno)))") }
                    _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
                    _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
                    defer { close(fds[1]) }
                    do {
                        return try SpawnCall.spawn(arguments, environment: environment, outputFD: fds[1])
                    } catch {
                        close(fds[0])
                        throw error
                    }
                }
            }
            guard case .success(let pid) = result else { return spawned.put(result.map { _ in nil }) }
            let process = SpawnedProcess(pid: pid)
            spawned.put(.success(process))
            process.pump(fds[0], output: output)
        }
        thread.name = "job-process"
        thread.start()
        guard let process = try spawned.take() else { throw ExecutorError("could not start \(arguments.first ?? "")") }
        return process
    }

    /// Waits until the process has exited and all its output was delivered.
    func wait() async -> ExecutionOutcome {
        await withCheckedContinuation { continuation in
            let outcome = state.withLock { state -> ExecutionOutcome? in
                if case .finished(let outcome) = state.phase { return outcome }
                state.waiters.append(continuation)
                return nil
            }
            if let outcome { continuation.resume(returning: outcome) }
        }
    }

    /// SIGTERM to the whole group now, SIGKILL after `grace` if it is still there.
    func terminate(grace: Duration) {
        state.withLock { state in
            guard case .running(let killAt) = state.phase else { return }
            kill(-pid, SIGTERM)
            if killAt == nil { state.phase = .running(killAt: .now + grace) }
        }
    }

    // MARK: - Reader thread

    private func pump(_ fd: Int32, output: @Sendable ([UInt8]) -> Void) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var eof = false
        var exitedAt: ContinuousClock.Instant?
        while true {
            if eof {
                usleep(20_000)
            } else {
                var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                if poll(&descriptor, 1, 50) > 0 {
                    let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if count > 0 {
                        output(Array(buffer[0..<count]))
                    } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                        eof = true
                    }
                }
            }
            if exitedAt == nil, reapIfExited() { exitedAt = .now }
            enforceKillDeadline()
            // Output still buffered in the pipe is read before finishing; a process that escaped the
            // group and holds the pipe open is not waited for longer than 2 s.
            if let exitedAt, eof || ContinuousClock.now - exitedAt > .seconds(2) { break }
        }
        close(fd)
        let (result, waiting) = state.withLock { state -> (ExecutionOutcome, [CheckedContinuation<ExecutionOutcome, Never>]) in
            var result = ExecutionOutcome.signaled(SIGKILL)
            if case .reaped(let outcome) = state.phase { result = outcome }
            state.phase = .finished(result)
            defer { state.waiters = [] }
            return (result, state.waiters)
        }
        for waiter in waiting { waiter.resume(returning: result) }
    }

    /// Reaps the child if it has exited, then kills whatever is left of its group (under the same
    /// lock as `terminate`, so no signal can reach a recycled pid).
    private func reapIfExited() -> Bool {
        state.withLock { state in
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            guard result == pid || (result < 0 && errno == ECHILD) else { return false }
            kill(-pid, SIGKILL)
            let signal = status & 0x7f
            state.phase = .reaped(result < 0 ? .signaled(SIGKILL) : (signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)))
            return true
        }
    }

    private func enforceKillDeadline() {
        state.withLock { state in
            guard case .running(let killAt?) = state.phase, ContinuousClock.now >= killAt else { return }
            kill(-pid, SIGKILL)
            state.phase = .running(killAt: nil)
        }
    }
}
