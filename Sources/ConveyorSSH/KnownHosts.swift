import CLibSSH2
import Foundation

extension SessionHandle {
    /// Rejects the server unless its host key is listed for `[host]:port` in `target.knownHostsPath`.
    func verifyHostKey(_ target: SSHTarget) throws {
        var length = 0
        var type: Int32 = 0
        guard let key = libssh2_session_hostkey(session, &length, &type) else {
            throw lastError("reading the host key")
        }
        guard let hosts = libssh2_knownhost_init(session) else { throw lastError("libssh2_knownhost_init") }
        defer { libssh2_knownhost_free(hosts) }
        if cv_ssh2_knownhost_readfile(hosts, target.knownHostsPath) < 0 {
            throw lastError("reading known_hosts file \(target.knownHostsPath)")
        }
        var entry: UnsafeMutablePointer<libssh2_knownhost>?
        let result = libssh2_knownhost_checkp(
            hosts, target.host, Int32(target.port), key, length,
            cv_ssh2_knownhost_check_flags(cv_ssh2_knownhost_keybit(type)), &entry)
        let name = target.port == 22 ? target.host : "[\(target.host)]:\(target.port)"
        switch result {
        case LIBSSH2_KNOWNHOST_CHECK_MATCH:
            return
        case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
            throw SSHError("host key of \(name) (\(fingerprint())) does not match \(target.knownHostsPath): "
                + "refusing to connect (possible man-in-the-middle)")
        case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
            throw SSHError("host \(name) is unknown: its key \(fingerprint()) is not in \(target.knownHostsPath)")
        default:
            throw lastError("checking the host key of \(name)")
        }
    }

    /// The host key's SHA256 fingerprint as ssh-keygen prints it.
    private func fingerprint() -> String {
        guard let hash = libssh2_hostkey_hash(session, LIBSSH2_HOSTKEY_HASH_SHA256) else { return "unknown key" }
        let bytes = Data(bytes: hash, count: 32).base64EncodedString()
        return "SHA256:" + bytes.replacingOccurrences(of: "=", with: "")
    }
}
