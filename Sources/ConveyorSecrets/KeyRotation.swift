import ConveyorPostgres
import Foundation

/// Re-seals every stored secret under the current cluster key: the second step of a rotation (see
/// docs/security.md). Rows already under the current key are left alone, so it can be run again after
/// an interruption. Jobs created before the rotation carry values sealed under the previous key; keep
/// `secrets_key_previous` until they have run.
public struct KeyRotation: Sendable {
    let postgres: PostgresClient
    let keyring: Keyring

    public init(postgres: PostgresClient, keyring: Keyring) {
        self.postgres = postgres
        self.keyring = keyring
    }

    public struct Report: Sendable, Equatable {
        public var privateKeys = 0
        public var envVars = 0
        public var alreadyCurrent = 0

        public init(privateKeys: Int = 0, envVars: Int = 0, alreadyCurrent: Int = 0) {
            self.privateKeys = privateKeys
            self.envVars = envVars
            self.alreadyCurrent = alreadyCurrent
        }
    }

    public func run() async throws -> Report {
        let key = try keyring.sealingKey()
        var report = Report()
        for row in try await postgres.query("SELECT repository_id, private_key_sealed, key_id FROM repository_keys").rows {
            let repository: Int64 = try row.decode("repository_id")
            if row["key_id"].string == key.id { report.alreadyCurrent += 1; continue }
            let purpose = SealPurpose.privateKey(repository: repository)
            let plain = try keyring.open(try row.decode("private_key_sealed"), purpose: purpose)
            try await postgres.query("UPDATE repository_keys SET private_key_sealed = $2, key_id = $3 WHERE repository_id = $1",
                                     [.int(repository), .text(try key.seal(plain, purpose: purpose)), .text(key.id)])
            report.privateKeys += 1
        }
        for row in try await postgres.query("SELECT id, repository_id, name, value, key_id FROM repository_env_vars WHERE NOT public").rows {
            if row["key_id"].string == key.id { report.alreadyCurrent += 1; continue }
            let purpose = SealPurpose.envVar(repository: try row.decode("repository_id"), name: try row.decode("name"))
            let plain = try keyring.open(try row.decode("value"), purpose: purpose)
            try await postgres.query("UPDATE repository_env_vars SET value = $2, key_id = $3, updated_at = now() WHERE id = $1",
                                     [.int(try row.decode("id") as Int64), .text(try key.seal(plain, purpose: purpose)), .text(key.id)])
            report.envVars += 1
        }
        return report
    }
}
