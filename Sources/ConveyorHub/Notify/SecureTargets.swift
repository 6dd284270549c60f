import ConveyorSecrets
import Foundation

/// `secure:` notification targets in the outbox (docs/notifications.md): planned as stand-ins
/// (`SecureStandIn`) whose ciphertexts go to `deliveries.sealed_targets`, opened by the sender just
/// before it sends. The plaintext lives only in that request; errors are redacted back to stand-ins.
enum SecureTargets {
    /// Stand-in → ciphertext, for `sealed_targets`.
    static func sealedMap(_ ciphertexts: [String]) -> [String: String] {
        Dictionary(ciphertexts.map { (SecureStandIn.of(ciphertext: $0), $0) }, uniquingKeysWith: { first, _ in first })
    }

    static func json(_ map: [String: String]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: map, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// A target with its stand-ins opened, and what to redact from anything recorded about it.
    struct Opened: Sendable {
        var target: String
        /// (plaintext, stand-in)
        var redactions: [(String, String)]

        func redact(_ text: String) -> String {
            redactions.reduce(text) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
        }
    }

    /// Replaces each stand-in in `target` by the plaintext of its ciphertext in `sealedJSON`.
    static func open(target: String, sealedJSON: String, key: RepositoryPrivateKey) throws(SecretsError) -> Opened {
        guard let map = try? JSONSerialization.jsonObject(with: Data(sealedJSON.utf8)) as? [String: String] else {
            throw SecretsError("the stored sealed targets are not a JSON object of strings")
        }
        var opened = Opened(target: target, redactions: [])
        for (standIn, ciphertext) in map.sorted(by: { $0.key < $1.key }) where target.contains(standIn) {
            guard let plain = key.decrypt(ciphertext), !plain.isEmpty else {
                throw SecretsError("\(standIn) could not be decrypted with the repository's key (encrypted for another repository or key?)")
            }
            opened.target = opened.target.replacingOccurrences(of: standIn, with: plain)
            opened.redactions.append((plain, standIn))
            // curl and receivers may quote a URL without its credentials or #fragment: redact those too.
            let (url, _) = SlackNotifier.split(room: plain)
            if url != plain { opened.redactions.append((url, standIn)) }
        }
        return opened
    }
}
