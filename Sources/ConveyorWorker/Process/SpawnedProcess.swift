import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process that leads its own process group, with stdout and stderr merged into one pipe.
///
/// One dedicated thread per process polls the pipe, delivers output in order, reaps the child with
/// `waitpid(WNOHANG)` and enforces the SIGKILL deadline after a `terminate`. When the child exits, what
/// is left of its group is killed, so no stray process outlives the job.
/// Hands the spawned process (or the failure) from the spawning thread to the caller.
private final class SpawnHandoff: @unchecked Sendable {
    // @unchecked Sendable: `value` is written once before `ready` is signalled and read after it.
    private let ready = DispatchSemaphore(value: 0)
    private var value: Result<SpawnedProcess?, any Error> = .success(nil)

    func put(_ result: Result<SpawnedProcess?, any Error>) {
        value = result
        ready.signal()
    }

    func take() throws -> SpawnedProcess? {
        ready.wait()
        return try value.get()
    }
}

final class SpawnedProcess: @unchecked Sendable {
    // @unchecked Sendable: `reaped`, `killAt`, `outcome` and `waiters` are only touched with `lock`
    // held; the pipe's read end is only used by the reader thread.
    let pid: pid_t
    private let lock = NSLock()
    private var reaped = false
    private var killAt: ContinuousClock.Instant?
    private var outcome: ExecutionOutcome?
    private var waiters: [CheckedContinuation<ExecutionOutcome, Never>] = []

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
                try SpawnLock.lock.withLock {
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
            lock.lock()
            if let outcome {
                lock.unlock()
                continuation.resume(returning: outcome)
            } else {
                waiters.append(continuation)
                lock.unlock()
            }
        }
    }

    /// SIGTERM to the whole group now, SIGKILL after `grace` if it is still there.
    func terminate(grace: Duration) {
        lock.withLock {
            guard !reaped else { return }
            kill(-pid, SIGTERM)
            if killAt == nil { killAt = .now + grace }
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
        let (result, waiting) = lock.withLock { () -> (ExecutionOutcome, [CheckedContinuation<ExecutionOutcome, Never>]) in
            let result = outcome ?? .signaled(SIGKILL)
            defer { waiters = [] }
            return (result, waiters)
        }
        for waiter in waiting { waiter.resume(returning: result) }
    }

    /// Reaps the child if it has exited, then kills whatever is left of its group (same lock, so no
    /// signal can reach a recycled pid).
    private func reapIfExited() -> Bool {
        lock.withLock {
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            guard result == pid || (result < 0 && errno == ECHILD) else { return false }
            kill(-pid, SIGKILL)
            reaped = true
            killAt = nil
            let signal = status & 0x7f
            outcome = result < 0 ? .signaled(SIGKILL) : (signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal))
            return true
        }
    }

    private func enforceKillDeadline() {
        lock.withLock {
            guard !reaped, let killAt, ContinuousClock.now >= killAt else { return }
            kill(-pid, SIGKILL)
            self.killAt = nil
        }
    }
}
