import ConveyorCore
import ConveyorModel
import ConveyorSecrets
import ConveyorTesting
import Foundation
import Testing

/// Key pairs and settings variables in a real PostgreSQL, and a rotation of the cluster key.
@Suite struct StoreTests {
    static func repository(_ context: NodeContext) async throws -> Int64 {
        let owner = try await context.postgres.query("INSERT INTO owners (login) VALUES ('octo') RETURNING id").first!["id"].int64!
        return try await context.postgres.query("INSERT INTO repositories (owner_id, slug, url) VALUES ($1, 'octo/app', 'file:///x') RETURNING id",
                                                [.int(owner)]).first!["id"].int64!
    }

    @Test func aKeyPairIsMadeOnceAndItsPrivateKeyRestsSealed() async throws {
        let context = try await TestEnvironment.context()
        let repo = try await Self.repository(context)
        let keyring = Keyring(current: try ClusterKey(base64: ClusterKey.generate(), origin: "test"))
        let store = RepositoryKeyStore(postgres: context.postgres, keyring: keyring)
        #expect(try await store.publicKey(repository: repo) == nil)
        async let first = store.ensure(repository: repo)
        async let second = store.ensure(repository: repo)
        let (a, b) = try await (first, second)
        #expect(a == b, "two racing callers get the same key")
        let row = try await context.postgres.query("SELECT private_key_sealed, key_id FROM repository_keys WHERE repository_id = $1", [.int(repo)]).first!
        let sealed = row["private_key_sealed"].string ?? ""
        #expect(sealed.hasPrefix("cvs1:\(keyring.current!.id):") && !sealed.contains("PRIVATE KEY"))
        let key = try RepositoryKeyStore.openPrivateKey(sealed: sealed, repository: repo, keyring: keyring)
        #expect(SecureValueCipher.decrypt(try SecureValueCipher.encrypt("X=1", publicKeyPEM: a.publicKey), privateKey: key) == "X=1")
        // Sealed for this repository: it does not open as another's.
        #expect(throws: SecretsError.self) { try RepositoryKeyStore.openPrivateKey(sealed: sealed, repository: repo + 1, keyring: keyring) }
        // Without a cluster key no pair is made, and the error says what to set.
        let other = try await context.postgres.query("INSERT INTO repositories (owner_id, slug, url) SELECT owner_id, 'octo/b', url FROM repositories WHERE id = $1 RETURNING id",
                                                     [.int(repo)]).first!["id"].int64!
        await #expect { try await RepositoryKeyStore(postgres: context.postgres, keyring: Keyring(current: nil)).ensure(repository: other) } throws: {
            ($0 as? SecretsError)?.description.contains("CONVEYOR_SECRETS_KEY") == true
        }
        await context.close()
    }

    @Test func settingsVariablesAreSealedListedWithoutSecretsAndPickedPerBranch() async throws {
        let context = try await TestEnvironment.context()
        let repo = try await Self.repository(context)
        let keyring = Keyring(current: try ClusterKey(base64: ClusterKey.generate(), origin: "test"))
        let store = EnvVarStore(postgres: context.postgres, keyring: keyring)
        try await store.set(repository: repo, name: "TOKEN", value: "all-branches", isPublic: false, branch: nil)
        let onMain = try await store.set(repository: repo, name: "TOKEN", value: "main-only", isPublic: false, branch: "main")
        try await store.set(repository: repo, name: "LEVEL", value: "3", isPublic: true, branch: nil)
        await #expect(throws: SecretsError.self) { try await store.set(repository: repo, name: "NOT-A-NAME", value: "x", isPublic: true, branch: nil) }

        let listed = try await store.list(repository: repo)
        #expect(listed.map { "\($0.name)|\($0.value ?? "-")|\($0.branch ?? "*")" } == ["LEVEL|3|*", "TOKEN|-|*", "TOKEN|-|main"])
        let stored = try await context.postgres.query("SELECT value FROM repository_env_vars WHERE NOT public").rows.compactMap { $0["value"].string }
        #expect(stored.count == 2 && stored.allSatisfy { $0.hasPrefix("cvs1:") })

        let main = try await store.forBuild(repository: repo, branch: "main")
        let dev = try await store.forBuild(repository: repo, branch: "dev")
        #expect(main.map(\.name) == ["LEVEL", "TOKEN"] && main[1].sealed == .clusterKey)
        let open = { (v: EnvVar) in String(decoding: try keyring.open(v.value, purpose: SealPurpose.envVar(repository: repo, name: v.name)), as: UTF8.self) }
        #expect(try open(main[1]) == "main-only", "a branch's own variable wins")
        #expect(try open(dev[1]) == "all-branches")

        // A secret made public needs its value again; moved to another branch it stays sealed.
        await #expect(throws: SecretsError.self) { try await store.update(repository: repo, id: onMain.id, value: nil, isPublic: true, branch: nil) }
        let moved = try await store.update(repository: repo, id: onMain.id, value: nil, isPublic: nil, branch: .some("release"))
        #expect(moved?.branch == "release" && moved?.value == nil)
        #expect(try await store.delete(repository: repo, name: "TOKEN", branch: "release") == 1)
        #expect(try await store.list(repository: repo).count == 2)
        await context.close()
    }

    @Test func aRotationReSealsEverythingUnderTheNewKey() async throws {
        let context = try await TestEnvironment.context()
        let repo = try await Self.repository(context)
        let old = try ClusterKey(base64: ClusterKey.generate(), origin: "old")
        let new = try ClusterKey(base64: ClusterKey.generate(), origin: "new")
        let before = Keyring(current: old)
        let pair = try await RepositoryKeyStore(postgres: context.postgres, keyring: before).ensure(repository: repo)
        try await EnvVarStore(postgres: context.postgres, keyring: before).set(repository: repo, name: "TOKEN", value: "t0k3n", isPublic: false, branch: nil)

        let during = Keyring(current: new, previous: old)
        let report = try await KeyRotation(postgres: context.postgres, keyring: during).run()
        #expect(report == KeyRotation.Report(privateKeys: 1, envVars: 1, alreadyCurrent: 0))
        #expect(try await KeyRotation(postgres: context.postgres, keyring: during).run() == KeyRotation.Report(privateKeys: 0, envVars: 0, alreadyCurrent: 2))

        // The new key alone opens everything now.
        let after = Keyring(current: new)
        let sealedKey = try await context.postgres.query("SELECT private_key_sealed FROM repository_keys").first!["private_key_sealed"].string!
        let key = try RepositoryKeyStore.openPrivateKey(sealed: sealedKey, repository: repo, keyring: after)
        #expect(SecureValueCipher.decrypt(try SecureValueCipher.encrypt("A=b", publicKeyPEM: pair.publicKey), privateKey: key) == "A=b")
        let variable = try await EnvVarStore(postgres: context.postgres, keyring: after).forBuild(repository: repo, branch: "main")[0]
        #expect(String(decoding: try after.open(variable.value, purpose: SealPurpose.envVar(repository: repo, name: "TOKEN")), as: UTF8.self) == "t0k3n")
        #expect(try await context.postgres.query("SELECT count(*) AS n FROM repository_env_vars WHERE key_id = $1", [.text(new.id)]).first!["n"].int == 1)
        await context.close()
    }
}
