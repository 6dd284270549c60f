import CLibSSH2
import ConveyorThreads
import Foundation

extension SessionHandle {
    /// Connects, handshakes, checks the host key and authenticates, all within `target.connectTimeout`.
    /// Runs on `thread`.
    static func open(_ target: SSHTarget, thread: DedicatedThread) throws -> SessionHandle {
        guard libssh2InitResult == 0 else { throw SSHError("libssh2_init failed (\(libssh2InitResult))") }
        let deadline = ContinuousClock.now + target.connectTimeout
        let fd = try Socket.connect(host: target.host, port: target.port,
                                    timeoutMs: target.connectTimeout.clampedMilliseconds)
        guard let session = cv_ssh2_session_init() else {
            close(fd)
            throw SSHError("libssh2_session_init failed")
        }
        libssh2_session_set_blocking(session, 0)
        // Keepalive probes every 15 s while commands run (sent by the pump), so a dead peer surfaces
        // as a write error instead of a silent hang.
        libssh2_keepalive_config(session, 1, 15)
        let handle = SessionHandle(thread: thread, socket: fd, session: session,
                                   operationTimeout: target.operationTimeout)
        do {
            try handle.retry("handshake with \(target.host):\(target.port)", until: deadline) {
                libssh2_session_handshake(session, fd)
            }
            try handle.verifyHostKey(target)
            try handle.authenticate(target, until: deadline)
        } catch {
            handle.release()
            throw error
        }
        return handle
    }

    private func authenticate(_ target: SSHTarget, until deadline: ContinuousClock.Instant) throws {
        try retry("public-key authentication as \(target.user) with \(target.privateKeyPath)", until: deadline) {
            cv_ssh2_userauth_publickey_fromfile(session, target.user, target.publicKeyPath,
                                                target.privateKeyPath, "")
        }
    }

    /// Closes every channel, says goodbye and frees the session and socket. Runs on `thread`.
    func release() {
        guard !closed else { return }
        closed = true
        for run in runs { run.abandon(SSHError("session closed")) }
        runs.removeAll()
        let deadline = ContinuousClock.now + .seconds(2)
        _ = try? retry("disconnect", until: deadline) { cv_ssh2_session_disconnect(session, "bye") }
        _ = try? retry("free", until: deadline) { libssh2_session_free(session) }
        close(socket)
    }
}
