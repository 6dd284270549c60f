import ConveyorCore
import ConveyorSecrets
import Synchronization

/// The repository private keys the sender needs: to sign Travis-style webhooks and to open `secure:`
/// targets (docs/notifications.md). Read per delivery, opened in memory only. Why a key is missing is
/// logged once per repository and reason, not at every delivery.
struct DeliveryKeys: Sendable {
    let store: RepositoryKeyStore
    let context: NodeContext
    private let logged = OnceMessages()

    init(context: NodeContext, keyring: Keyring) {
        store = RepositoryKeyStore(postgres: context.postgres, keyring: keyring)
        self.context = context
    }

    /// The key, or why there is none (a message naming no secret).
    func key(repository: Int64?) async -> Result<RepositoryPrivateKey, SecretsError> {
        guard let repository else { return .failure(SecretsError("the delivery's build has no repository")) }
        do {
            guard let key = try await store.privateKey(repository: repository) else {
                return .failure(SecretsError("repository \(repository) has no key pair yet (GET /api/v1/repos/{owner}/{name}/key makes one)"))
            }
            return .success(key)
        } catch let error as SecretsError {
            return .failure(error)
        } catch {
            return .failure(SecretsError("reading the key of repository \(repository) failed: \(error)"))
        }
    }

    /// Travis's `Signature` of `payload`, or nil (logged once) when the repository's key is unavailable.
    func travisSignature(repository: Int64?, payload: String) async -> String? {
        let reason: String
        switch await key(repository: repository) {
        case .success(let key):
            // One RSA-2048 signature: about a millisecond of CPU, fine on the pool.
            do { return try key.travisSignature(Array(payload.utf8)) } catch { reason = error.description }
        case .failure(let error):
            reason = error.description
        }
        if logged.first("\(repository ?? 0): \(reason)") {
            context.logger.warning("Travis webhooks go out without a Signature header", metadata: ["repository": "\(repository ?? 0)", "reason": "\(reason)"])
        }
        return nil
    }
}

/// Remembers which messages were already logged.
final class OnceMessages: Sendable {
    private let seen = Mutex<Set<String>>([])

    /// True the first time `key` is seen.
    func first(_ key: String) -> Bool { seen.withLock { $0.insert(key).inserted } }
}
