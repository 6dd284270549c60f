/// One environment variable of a job.
public struct EnvVar: Sendable, Codable, Hashable {
    public var name: String
    public var value: String
    /// Decrypted from a `secure:` value: masked in logs, shown as `[secure]`.
    public var secure: Bool
    /// The value may reference other variables (`$HOME/bin:$PATH`), as in Travis: it was written bare or
    /// double-quoted in the config. Command substitution is never performed either way.
    public var expandsVariables: Bool
    /// Set while `value` is still ciphertext: the worker opens it just before the job runs (see
    /// `SealedEnv`), so no plain secret is stored in a job row or a stream. `name` is empty when the
    /// ciphertext holds `NAME=value` (`- secure: "…"`).
    public var sealed: Sealing?

    /// What a sealed value is encrypted with.
    public enum Sealing: String, Sendable, Codable, Hashable {
        /// A `secure:` value of the config: RSA PKCS#1 v1.5 against the repository's public key, base64.
        case repositoryKey = "repository_key"
        /// A secret variable of the repository settings: AES-GCM under the cluster's `secrets_key`.
        case clusterKey = "cluster_key"
    }

    public init(name: String, value: String, secure: Bool = false, expandsVariables: Bool = false, sealed: Sealing? = nil) {
        self.name = name
        self.value = value
        self.secure = secure
        self.expandsVariables = expandsVariables
        self.sealed = sealed
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        value = try container.decode(String.self, forKey: .value)
        secure = try container.decodeIfPresent(Bool.self, forKey: .secure) ?? false
        expandsVariables = try container.decodeIfPresent(Bool.self, forKey: .expandsVariables) ?? false
        sealed = try container.decodeIfPresent(Sealing.self, forKey: .sealed)
    }

    /// `NAME=value`, or `NAME=[secure]` for secure ones: how `config expand` and logs show it.
    public var displayText: String {
        name.isEmpty ? "[secure]" : "\(name)=\(secure ? "[secure]" : value)"
    }
}
