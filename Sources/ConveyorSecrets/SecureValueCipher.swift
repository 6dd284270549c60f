import Crypto
import CryptoExtras
import Foundation

/// `secure:` values as `travis encrypt` makes them: RSA with PKCS#1 v1.5 padding against the
/// repository's public key, base64. swift-crypto's `_RSA.Encryption` (BoringSSL underneath) does
/// both sides; the padding is the legacy one on purpose, for compatibility with existing configs
/// and `openssl pkeyutl -encrypt -pkeyopt rsa_padding_mode:pkcs1`.
public enum SecureValueCipher {
    static let padding = _RSA.Encryption.Padding._WEAK_AND_INSECURE_PKCS_V1_5

    /// The base64 ciphertext of `plaintext` for the key `publicKeyPEM` (`PUBLIC KEY` or `RSA PUBLIC KEY`).
    public static func encrypt(_ plaintext: String, publicKeyPEM: String) throws(SecretsError) -> String {
        let key: _RSA.Encryption.PublicKey
        do { key = try _RSA.Encryption.PublicKey(pemRepresentation: publicKeyPEM) } catch {
            throw SecretsError("the public key is not an RSA PEM key of 2048 bits or more: \(error)")
        }
        let bytes = Data(plaintext.utf8)
        let limit = key.maximumEncryptSize(with: padding)
        guard bytes.count <= limit else {
            throw SecretsError("the value is \(bytes.count) bytes; an RSA \(key.keySizeInBits) key encrypts at most \(limit) (put a larger secret in a file encrypted with a key kept this way)")
        }
        do { return try key.encrypt(bytes, padding: padding).base64EncodedString() } catch {
            throw SecretsError("encryption failed: \(error)")
        }
    }

    /// The plaintext, or nil when the ciphertext is not base64, is not for this key, or is not UTF-8.
    public static func decrypt(_ base64: String, privateKey: _RSA.Encryption.PrivateKey) -> String? {
        let compact = base64.filter { !$0.isWhitespace }
        guard let data = Data(base64Encoded: compact),
              let plain = try? privateKey.decrypt(data, padding: padding) else { return nil }
        return String(data: plain, encoding: .utf8)
    }
}

/// A repository's RSA key pair.
public struct RepositoryKeyPair: Sendable {
    public static let bits = 2048
    public let privateKeyPEM: String
    public let publicKeyPEM: String
    public let fingerprint: String

    /// Generates a new pair. Takes a few hundred milliseconds of CPU: call it off the cooperative pool
    /// (`RepositoryKeyStore` does).
    public static func generate() throws(SecretsError) -> RepositoryKeyPair {
        do {
            let key = try _RSA.Encryption.PrivateKey(keySize: .init(bitCount: bits))
            return RepositoryKeyPair(privateKeyPEM: key.pemRepresentation, publicKeyPEM: key.publicKey.pemRepresentation,
                                     fingerprint: fingerprint(der: key.publicKey.derRepresentation))
        } catch {
            throw SecretsError("RSA key generation failed: \(error)")
        }
    }

    /// SHA-256 of the public key's DER (SubjectPublicKeyInfo), as colon-separated hex pairs: the same as
    /// `openssl pkey -pubin -outform der | openssl dgst -sha256 -c`.
    public static func fingerprint(der: Data) -> String {
        SHA256.hash(data: der).map { String(format: "%02x", $0) }.joined(separator: ":")
    }

    public static func privateKey(pem: String) throws(SecretsError) -> _RSA.Encryption.PrivateKey {
        do { return try _RSA.Encryption.PrivateKey(pemRepresentation: pem) } catch {
            throw SecretsError("the stored private key is not a readable RSA key: \(error)")
        }
    }
}
