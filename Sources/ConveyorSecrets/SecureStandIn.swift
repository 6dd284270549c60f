import Crypto
import Foundation

/// What stands for a `secure:` notification target wherever it is stored or shown (the outbox's
/// `target`, the API, logs): `secure:` and the first 8 bytes of SHA-256 of the ciphertext, hex. It
/// tells targets apart and reveals nothing of the plaintext (docs/notifications.md).
public enum SecureStandIn {
    public static let prefix = "secure:"

    public static func of(ciphertext: String) -> String {
        prefix + SHA256.hash(data: Data(ciphertext.utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
    }
}
