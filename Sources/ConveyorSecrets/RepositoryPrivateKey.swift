import Crypto
import CryptoExtras
import Foundation

/// A repository's private key, opened in memory for the hub: it signs Travis-style webhooks and
/// decrypts `secure:` notification targets (docs/notifications.md). Read it with
/// `RepositoryKeyStore.privateKey(repository:)`; it is never written anywhere.
public struct RepositoryPrivateKey: Sendable {
    // Only the signing key is kept: swift-crypto's `_RSA.Encryption.PrivateKey` is not Sendable, so
    // `decrypt` makes one from the same DER when it is needed.
    let signing: _RSA.Signing.PrivateKey

    public init(pem: String) throws(SecretsError) {
        do { signing = try _RSA.Signing.PrivateKey(pemRepresentation: pem) } catch {
            throw SecretsError("the stored private key is not a readable RSA signing key: \(error)")
        }
    }

    /// Travis's webhook `Signature`: `OpenSSL::PKey::RSA#sign(OpenSSL::Digest::SHA1.new, payload)` —
    /// RSASSA-PKCS1-v1_5 over the SHA-1 digest of `payload` (the form field's value, i.e. the JSON
    /// before form encoding) — in base64 without line breaks. `openssl dgst -sha1 -verify key.pem
    /// -signature sig.bin payload.json` checks it.
    public func travisSignature(_ payload: some DataProtocol) throws(SecretsError) -> String {
        do {
            let signature = try signing.signature(for: Insecure.SHA1.hash(data: payload), padding: .insecurePKCS1v1_5)
            return signature.rawRepresentation.base64EncodedString()
        } catch {
            throw SecretsError("signing failed: \(error)")
        }
    }

    /// A `secure:` value's plaintext, or nil when it is not base64, not for this key, or not UTF-8.
    public func decrypt(_ base64: String) -> String? {
        guard let key = try? _RSA.Encryption.PrivateKey(derRepresentation: signing.derRepresentation) else { return nil }
        return SecureValueCipher.decrypt(base64, privateKey: key)
    }
}

/// Checks a Travis-style `Signature` against a PEM public key (what `GET /api/v1/repos/{o}/{n}/key`
/// returns), as a receiver does.
public enum TravisSignatureCheck {
    public static func isValid(signature base64: String, payload: some DataProtocol, publicKeyPEM: String) -> Bool {
        guard let raw = Data(base64Encoded: base64),
              let key = try? _RSA.Signing.PublicKey(pemRepresentation: publicKeyPEM) else { return false }
        return key.isValidSignature(_RSA.Signing.RSASignature(rawRepresentation: raw), for: Insecure.SHA1.hash(data: payload),
                                    padding: .insecurePKCS1v1_5)
    }
}
