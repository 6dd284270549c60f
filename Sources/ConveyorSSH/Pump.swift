import CLibSSH2

/// The session thread's loop over running commands: it writes pending stdin, reads stdout and stderr
/// as they arrive, and closes finished channels — never blocking on one channel, so several commands
/// (and `terminate`'s second channel) share the session. It re-submits itself while any run is active,
/// so other closures queued on the thread interleave with it.
extension SessionHandle {
    func add(_ run: RunState) {
        runs.append(run)
        schedulePump()
    }

    func schedulePump() {
        guard !pumpScheduled, !closed else { return }
        pumpScheduled = true
        let submitted = thread.submit { [self] in pump() }
        if !submitted { pumpScheduled = false }
    }

    private func pump() {
        pumpScheduled = false
        guard !closed else { return }
        var progressed = false
        for _ in 0..<64 {
            var round = false
            for run in runs where step(run) { round = true }
            runs.removeAll { $0.isFinished }
            progressed = progressed || round
            if !round { break }
        }
        guard !runs.isEmpty else { return }
        var nextKeepalive: Int32 = 0
        if libssh2_keepalive_send(session, &nextKeepalive) < 0, libssh2_session_last_errno(session) != LIBSSH2_ERROR_EAGAIN {
            let error = lastError("sending a keepalive")
            for run in runs { fail(run, error) }
        }
        // Nothing to do right now: wait briefly for the socket, unless other work is queued.
        if !progressed && thread.backlog == 0 { waitSocket(maxMilliseconds: 20) }
        schedulePump()
    }

    /// Advances one run as far as it can go without blocking; true if anything happened.
    private func step(_ run: RunState) -> Bool {
        guard let channel = run.channel else { return false }
        if case .streaming = run.phase, let deadline = run.deadline, ContinuousClock.now > deadline {
            run.failure = SSHError("command timed out")
            run.phase = .closing
        }
        switch run.phase {
        case .streaming:
            var progressed = writeStdin(run, channel)
            progressed = read(run, channel, stream: 0) || progressed
            progressed = read(run, channel, stream: SSH_EXTENDED_DATA_STDERR) || progressed
            if run.failure == nil, libssh2_channel_eof(channel) != 0 {
                run.phase = .closing
                progressed = true
            }
            return progressed
        case .closing:
            let rc = libssh2_channel_close(channel)
            if rc == LIBSSH2_ERROR_EAGAIN { return false }
            run.phase = .waitingClosed
            return true
        case .waitingClosed:
            let rc = libssh2_channel_wait_closed(channel)
            if rc == LIBSSH2_ERROR_EAGAIN { return false }
            let status = exitStatus(channel)
            _ = try? retry("freeing a channel", until: .now + .seconds(2)) { libssh2_channel_free(channel) }
            run.channel = nil
            run.finish(run.failure.map { .failure($0) } ?? .success(status))
            return true
        case .finished:
            return false
        }
    }

    private func writeStdin(_ run: RunState, _ channel: OpaquePointer) -> Bool {
        if run.stdinOffset < run.stdin.count {
            let offset = run.stdinOffset
            let written = run.stdin.withUnsafeBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return cv_ssh2_channel_write(channel, base.assumingMemoryBound(to: CChar.self) + offset,
                                             raw.count - offset)
            }
            if written == Int(LIBSSH2_ERROR_EAGAIN) { return false }
            if written < 0 {
                fail(run, lastError("writing to the command's stdin"))
                return true
            }
            run.stdinOffset += written
            return written > 0
        }
        guard !run.eofSent else { return false }
        let rc = cv_ssh2_channel_send_eof(channel)
        if rc == LIBSSH2_ERROR_EAGAIN { return false }
        run.eofSent = true
        return true
    }

    /// Reads what is available on one stream (up to 512 KiB per call so other runs get their turn).
    private func read(_ run: RunState, _ channel: OpaquePointer, stream: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 32 * 1024)
        var total = 0
        while total < 512 * 1024 {
            let count = buffer.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return libssh2_channel_read_ex(channel, stream, base.assumingMemoryBound(to: CChar.self), raw.count)
            }
            if count == Int(LIBSSH2_ERROR_EAGAIN) || count == 0 { break }
            if count < 0 {
                fail(run, lastError("reading command output"))
                return true
            }
            total += count
            run.onOutput(stream == 0 ? .stdout : .stderr, Array(buffer[0..<count]))
        }
        return total > 0
    }

    private func fail(_ run: RunState, _ error: SSHError) {
        guard case .streaming = run.phase else { return }
        run.failure = error
        run.phase = .closing
    }

    /// The exit status, or 128 + signal number when the command was killed by a signal.
    private func exitStatus(_ channel: OpaquePointer) -> Int32 {
        var signal: UnsafeMutablePointer<CChar>?
        var length = 0
        _ = libssh2_channel_get_exit_signal(channel, &signal, &length, nil, nil, nil, nil)
        if let signal {
            let name = String(cString: signal)
            libssh2_free(session, signal)
            return 128 + (signalNumbers[name] ?? 0)
        }
        return libssh2_channel_get_exit_status(channel)
    }
}

private let signalNumbers: [String: Int32] = [
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "ABRT": 6, "FPE": 8, "KILL": 9, "SEGV": 11,
    "PIPE": 13, "ALRM": 14, "TERM": 15, "USR1": 10, "USR2": 12,
]
