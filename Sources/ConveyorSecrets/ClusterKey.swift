import Crypto
import Foundation

/// The cluster key (`secrets_key`): 32 random bytes, written as base64 (`conveyor secrets generate-key`
/// or `openssl rand -base64 32`). It seals what must rest encrypted in PostgreSQL — repository private
/// keys and secret settings variables — with AES-256-GCM. See docs/security.md.
public struct ClusterKey: Sendable {
    /// The first 8 bytes of SHA-256 of the key, hex: names the key in every sealed value, so a value
    /// sealed under another key fails with a message saying so, and a rotation finds what is left.
    public let id: String
    private let key: SymmetricKey

    static let prefix = "cvs1"

    public init(base64 text: String, origin: String) throws(SecretsError) {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let bytes = Data(base64Encoded: trimmed), bytes.count == 32 else {
            throw SecretsError("\(origin): expected 32 random bytes in base64 (e.g. `openssl rand -base64 32`), got \(trimmed.count) characters that are not")
        }
        key = SymmetricKey(data: bytes)
        id = SHA256.hash(data: bytes).prefix(8).map { String(format: "%02x", $0) }.joined()
    }

    /// A new random key, base64.
    public static func generate() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// `cvs1:<key id>:<base64 of nonce | ciphertext | tag>`. `purpose` is authenticated (not stored):
    /// a sealed private key cannot be passed off as a settings variable or the other way round.
    public func seal(_ plaintext: some DataProtocol, purpose: String) throws(SecretsError) -> String {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, authenticating: Data(purpose.utf8))
            guard let combined = box.combined else { throw SecretsError("AES-GCM gave no combined box") }
            return "\(Self.prefix):\(id):\(combined.base64EncodedString())"
        } catch let error as SecretsError {
            throw error
        } catch {
            throw SecretsError("sealing failed: \(error)")
        }
    }

    /// The key id a sealed value names, or nil when the text is not a sealed value.
    public static func keyID(of sealed: String) -> String? {
        let parts = sealed.split(separator: ":", maxSplits: 2)
        guard parts.count == 3, parts[0] == prefix else { return nil }
        return String(parts[1])
    }

    public func open(_ sealed: String, purpose: String) throws(SecretsError) -> Data {
        let parts = sealed.split(separator: ":", maxSplits: 2)
        guard parts.count == 3, parts[0] == Self.prefix, let combined = Data(base64Encoded: String(parts[2])) else {
            throw SecretsError("not a sealed value (expected \(Self.prefix):<key id>:<base64>)")
        }
        guard parts[1] == id else { throw SecretsError("sealed under cluster key \(parts[1]), not under this key (\(id))") }
        do {
            return try AES.GCM.open(AES.GCM.SealedBox(combined: combined), using: key, authenticating: Data(purpose.utf8))
        } catch {
            throw SecretsError("a value sealed under key \(id) failed authentication (altered, or sealed for another purpose)")
        }
    }
}
