import ConveyorModel
import ConveyorSecrets
import CryptoExtras
import Foundation

/// Opens a claimed job's sealed env vars in the worker's memory, the last moment before its script is
/// compiled: `secure:` values with the repository's private key (itself opened with the cluster key),
/// secret settings variables with the cluster key. Nothing opened is written back anywhere.
struct JobSecretsOpener {
    let repository: Int64
    let sealedPrivateKey: String?
    let keyring: Keyring

    func open(_ spec: JobSpec) -> SealedEnv.Opened {
        guard spec.env.contains(where: { $0.sealed != nil }) else { return SealedEnv.Opened(env: spec.env, notices: []) }
        var notices: [String] = []
        var privateKey: _RSA.Encryption.PrivateKey?
        if spec.env.contains(where: { $0.sealed == .repositoryKey }), let sealedPrivateKey {
            do {
                privateKey = try RepositoryKeyStore.openPrivateKey(sealed: sealedPrivateKey, repository: repository, keyring: keyring)
            } catch {
                notices.append("the repository's private key could not be opened: \(error.description)")
            }
        }
        let hasClusterKey = keyring.current != nil || keyring.previous != nil
        let repositoryKey: SealedEnv.Opener? = privateKey.map { key in { _, sealed in SecureValueCipher.decrypt(sealed, privateKey: key) } }
        let clusterKey: SealedEnv.Opener? = hasClusterKey ? { [repository, keyring] name, sealed in
            guard let plain = try? keyring.open(sealed, purpose: SealPurpose.envVar(repository: repository, name: name)) else { return nil }
            return String(data: plain, encoding: .utf8)
        } : nil
        var opened = SealedEnv.open(spec.env, repositoryKey: repositoryKey, clusterKey: clusterKey)
        opened.notices = notices + opened.notices
        return opened
    }
}
