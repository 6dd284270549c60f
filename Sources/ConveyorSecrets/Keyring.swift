import ConveyorCore
import Foundation

/// The cluster keys a node holds: the current one (`secrets_key`, or the file `secrets_key_file`) seals
/// and opens; the previous one (`secrets_key_previous`, during a rotation) only opens.
public struct Keyring: Sendable {
    public let current: ClusterKey?
    public let previous: ClusterKey?

    public init(current: ClusterKey?, previous: ClusterKey? = nil) {
        self.current = current
        self.previous = previous
    }

    /// Reads the keys the settings name. No key at all is allowed (secrets are then unavailable, and
    /// each place that needs one says so); a key that is malformed is an error.
    public static func from(_ settings: Settings) throws(SecretsError) -> Keyring {
        var current: ClusterKey?
        if let text = settings.secretsKey {
            current = try ClusterKey(base64: text, origin: "secrets_key")
        } else if let path = settings.secretsKeyFile {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw SecretsError("secrets_key_file \(path): cannot read: \(error.localizedDescription)")
            }
            current = try ClusterKey(base64: text, origin: "secrets_key_file \(path)")
        }
        let previous = try settings.secretsKeyPrevious.map { text throws(SecretsError) in
            try ClusterKey(base64: text, origin: "secrets_key_previous")
        }
        return Keyring(current: current, previous: previous)
    }

    /// The key that seals new values.
    public func sealingKey() throws(SecretsError) -> ClusterKey {
        guard let current else {
            throw SecretsError("no secrets_key is configured (set CONVEYOR_SECRETS_KEY or secrets_key_file; see docs/security.md)")
        }
        return current
    }

    public func seal(_ plaintext: some DataProtocol, purpose: String) throws(SecretsError) -> (sealed: String, keyID: String) {
        let key = try sealingKey()
        return (try key.seal(plaintext, purpose: purpose), key.id)
    }

    /// Opens with whichever held key sealed the value.
    public func open(_ sealed: String, purpose: String) throws(SecretsError) -> Data {
        let id = ClusterKey.keyID(of: sealed)
        for key in [current, previous].compactMap({ $0 }) where key.id == id {
            return try key.open(sealed, purpose: purpose)
        }
        if current == nil && previous == nil { _ = try sealingKey() }
        throw SecretsError("sealed under cluster key \(id ?? "?"), which this node does not hold (current: \(current?.id ?? "none")\(previous.map { ", previous: \($0.id)" } ?? ""))")
    }
}

/// What a sealed value is for: authenticated with it, so sealed values cannot be swapped between uses.
public enum SealPurpose {
    public static func privateKey(repository: Int64) -> String { "repository-key:\(repository)" }
    public static func envVar(repository: Int64, name: String) -> String { "env-var:\(repository):\(name)" }
}
