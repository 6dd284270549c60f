/// Where and how to reach an SSH host. Key authentication only; the host key must be in `knownHostsPath`.
public struct SSHTarget: Sendable {
    public var host: String
    public var port: Int
    public var user: String
    public var privateKeyPath: String
    /// Optional: libssh2 derives the public key from the private one when this is nil.
    public var publicKeyPath: String?
    public var knownHostsPath: String
    /// Bounds the TCP connect, the handshake and authentication together.
    public var connectTimeout: Duration
    /// Bounds each later blocking step (opening a channel, starting a command, an upload).
    public var operationTimeout: Duration

    public init(
        host: String,
        port: Int = 22,
        user: String,
        privateKeyPath: String,
        publicKeyPath: String? = nil,
        knownHostsPath: String,
        connectTimeout: Duration = .seconds(10),
        operationTimeout: Duration = .seconds(60)
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.privateKeyPath = privateKeyPath
        self.publicKeyPath = publicKeyPath
        self.knownHostsPath = knownHostsPath
        self.connectTimeout = connectTimeout
        self.operationTimeout = operationTimeout
    }
}

/// A failed SSH step, with libssh2's own message where it gave one.
public struct SSHError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "ssh: \(message)" }
}

/// Which remote stream a chunk of output came from.
public enum SSHOutputStream: Sendable, Hashable {
    case stdout, stderr
}
