import ConveyorPostgres
import ConveyorThreads
import CryptoExtras
import Foundation

/// Repository key pairs in PostgreSQL (`repository_keys`): the public key as PEM, the private key sealed
/// under the cluster key. Made when a repository is registered, or on first use for older repositories.
public struct RepositoryKeyStore: Sendable {
    let postgres: PostgresClient
    let keyring: Keyring

    public init(postgres: PostgresClient, keyring: Keyring) {
        self.postgres = postgres
        self.keyring = keyring
    }

    public struct PublicKey: Sendable, Codable, Equatable {
        public var publicKey: String
        public var fingerprint: String
    }

    public func publicKey(repository: Int64) async throws -> PublicKey? {
        guard let row = try await postgres.query("SELECT public_key, fingerprint FROM repository_keys WHERE repository_id = $1",
                                                 [.int(repository)]).first else { return nil }
        return PublicKey(publicKey: try row.decode("public_key"), fingerprint: try row.decode("fingerprint"))
    }

    /// The repository's public key, generating the pair first if it has none. Two callers racing both
    /// generate; the first insert wins and both return it.
    public func ensure(repository: Int64) async throws -> PublicKey {
        if let existing = try await publicKey(repository: repository) { return existing }
        let sealing = try keyring.sealingKey()
        let thread = DedicatedThread(name: "cv-keygen")
        defer { thread.shutdown() }
        let pair = try await thread.run { () throws -> RepositoryKeyPair in try RepositoryKeyPair.generate() }
        let sealed = try sealing.seal(Data(pair.privateKeyPEM.utf8), purpose: SealPurpose.privateKey(repository: repository))
        try await postgres.query("""
            INSERT INTO repository_keys (repository_id, public_key, fingerprint, private_key_sealed, key_id)
            VALUES ($1, $2, $3, $4, $5) ON CONFLICT (repository_id) DO NOTHING
            """, [.int(repository), .text(pair.publicKeyPEM), .text(pair.fingerprint), .text(sealed), .text(sealing.id)])
        guard let stored = try await publicKey(repository: repository) else {
            throw SecretsError("the key pair of repository \(repository) was not stored")
        }
        return stored
    }

    /// The repository's private key, opened with the cluster key; nil when the repository has no key pair.
    public func privateKey(repository: Int64) async throws -> RepositoryPrivateKey? {
        guard let row = try await postgres.query("SELECT private_key_sealed FROM repository_keys WHERE repository_id = $1",
                                                 [.int(repository)]).first else { return nil }
        let pem = try keyring.open(try row.decode("private_key_sealed"), purpose: SealPurpose.privateKey(repository: repository))
        return try RepositoryPrivateKey(pem: String(decoding: pem, as: UTF8.self))
    }

    /// Opens a sealed private key read with a job (see the worker's job loader).
    public static func openPrivateKey(sealed: String, repository: Int64, keyring: Keyring) throws(SecretsError) -> _RSA.Encryption.PrivateKey {
        let pem = try keyring.open(sealed, purpose: SealPurpose.privateKey(repository: repository))
        return try RepositoryKeyPair.privateKey(pem: String(decoding: pem, as: UTF8.self))
    }
}
