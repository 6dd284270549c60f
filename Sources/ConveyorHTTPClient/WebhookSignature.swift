import Crypto

/// Signatures for outgoing webhooks, as GitHub's `X-Hub-Signature-256`.
public enum WebhookSignature {
    /// "sha256=" followed by the lower-case hex HMAC-SHA256 of `body` keyed with `secret`.
    public static func hmacSHA256Hex(secret: String, body: [UInt8]) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8)))
        return "sha256=" + Array(code).hex
    }
}
