import ConveyorSecrets
import ConveyorTesting
import Foundation
import Testing

/// The ciphers on their own: `secure:` values (RSA PKCS#1 v1.5, checked against the real `openssl`
/// CLI both ways) and the cluster key's sealing.
@Suite struct CipherTests {
    static let pair: RepositoryKeyPair = try! RepositoryKeyPair.generate()

    static func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("cv-secrets-\(UUID().uuidString.prefix(8))-\(name)").path
    }

    @Test func aValueEncryptedWithThePublicKeyDecrypts() throws {
        let ciphertext = try SecureValueCipher.encrypt("API_TOKEN=s3cr3t value", publicKeyPEM: Self.pair.publicKeyPEM)
        let key = try RepositoryKeyPair.privateKey(pem: Self.pair.privateKeyPEM)
        #expect(SecureValueCipher.decrypt(ciphertext, privateKey: key) == "API_TOKEN=s3cr3t value")
        #expect(key.keySizeInBits >= 2048)
        // Wrapped base64 (as some tools print it) still decrypts; garbage does not.
        let wrapped = stride(from: 0, to: ciphertext.count, by: 60).map { i in
            String(ciphertext.dropFirst(i).prefix(60))
        }.joined(separator: "\n")
        #expect(SecureValueCipher.decrypt(wrapped, privateKey: key) == "API_TOKEN=s3cr3t value")
        #expect(SecureValueCipher.decrypt("bm90IGEgY2lwaGVydGV4dA==", privateKey: key) == nil)
        #expect(SecureValueCipher.decrypt("***", privateKey: key) == nil)
    }

    @Test func aValueTooLongForTheKeyIsRefusedWithItsLimit() {
        #expect {
            try SecureValueCipher.encrypt(String(repeating: "x", count: 300), publicKeyPEM: Self.pair.publicKeyPEM)
        } throws: { ($0 as? SecretsError)?.description.contains("at most 245") == true }
    }

    @Test func opensslPkeyutlEncryptsWhatWeDecrypt() async throws {
        let pub = Self.temporary("pub.pem"), plain = Self.temporary("plain"), out = Self.temporary("cipher"), log = Self.temporary("log")
        try Self.pair.publicKeyPEM.write(toFile: pub, atomically: true, encoding: .utf8)
        try "DEPLOY_KEY=from-openssl".write(toFile: plain, atomically: true, encoding: .utf8)
        try await ChildProcess.run("/usr/bin/openssl", ["pkeyutl", "-encrypt", "-pubin", "-inkey", pub, "-pkeyopt", "rsa_padding_mode:pkcs1",
                                                        "-in", plain, "-out", out], log: log)
        let ciphertext = try Data(contentsOf: URL(fileURLWithPath: out)).base64EncodedString()
        let key = try RepositoryKeyPair.privateKey(pem: Self.pair.privateKeyPEM)
        #expect(SecureValueCipher.decrypt(ciphertext, privateKey: key) == "DEPLOY_KEY=from-openssl")
    }

    @Test func opensslDecryptsWhatWeEncrypt() async throws {
        let priv = Self.temporary("priv.pem"), input = Self.temporary("in"), out = Self.temporary("out"), log = Self.temporary("log")
        try Self.pair.privateKeyPEM.write(toFile: priv, atomically: true, encoding: .utf8)
        let ciphertext = try SecureValueCipher.encrypt("X=ours", publicKeyPEM: Self.pair.publicKeyPEM)
        try Data(base64Encoded: ciphertext)!.write(to: URL(fileURLWithPath: input))
        try await ChildProcess.run("/usr/bin/openssl", ["pkeyutl", "-decrypt", "-inkey", priv, "-pkeyopt", "rsa_padding_mode:pkcs1",
                                                        "-in", input, "-out", out], log: log)
        #expect(try String(contentsOfFile: out, encoding: .utf8) == "X=ours")
    }

    @Test func theFingerprintIsTheSHA256OfThePublicKeyDER() async throws {
        let pub = Self.temporary("pub.pem"), der = Self.temporary("pub.der"), log = Self.temporary("log")
        try Self.pair.publicKeyPEM.write(toFile: pub, atomically: true, encoding: .utf8)
        try await ChildProcess.run("/usr/bin/openssl", ["pkey", "-pubin", "-in", pub, "-outform", "der", "-out", der], log: log)
        #expect(Self.pair.fingerprint == RepositoryKeyPair.fingerprint(der: try Data(contentsOf: URL(fileURLWithPath: der))))
        #expect(Self.pair.publicKeyPEM.hasPrefix("-----BEGIN PUBLIC KEY-----"))
        #expect(Self.pair.fingerprint.split(separator: ":").count == 32)
    }

    @Test func theClusterKeySealsForOnePurpose() throws {
        let key = try ClusterKey(base64: ClusterKey.generate(), origin: "test")
        let sealed = try key.seal(Data("hunter2".utf8), purpose: "env-var:1:TOKEN")
        #expect(!sealed.contains("hunter2"))
        #expect(ClusterKey.keyID(of: sealed) == key.id)
        #expect(String(decoding: try key.open(sealed, purpose: "env-var:1:TOKEN"), as: UTF8.self) == "hunter2")
        #expect(throws: SecretsError.self) { try key.open(sealed, purpose: "env-var:2:TOKEN") }
        let other = try ClusterKey(base64: ClusterKey.generate(), origin: "test")
        #expect { try other.open(sealed, purpose: "env-var:1:TOKEN") } throws: {
            ($0 as? SecretsError)?.description.contains("sealed under cluster key \(key.id)") == true
        }
    }

    @Test func aMalformedClusterKeyIsNamed() {
        #expect { try ClusterKey(base64: "short", origin: "secrets_key") } throws: {
            ($0 as? SecretsError)?.description.hasPrefix("secrets_key: expected 32 random bytes") == true
        }
    }

    @Test func duringARotationThePreviousKeyStillOpens() throws {
        let old = try ClusterKey(base64: ClusterKey.generate(), origin: "old")
        let new = try ClusterKey(base64: ClusterKey.generate(), origin: "new")
        let sealedOld = try old.seal(Data("v".utf8), purpose: "p")
        let ring = Keyring(current: new, previous: old)
        #expect(try ring.open(sealedOld, purpose: "p") == Data("v".utf8))
        #expect(ring.current?.id == new.id)
        #expect(throws: SecretsError.self) { try Keyring(current: new).open(sealedOld, purpose: "p") }
        #expect { try Keyring(current: nil).seal(Data(), purpose: "p") } throws: {
            ($0 as? SecretsError)?.description.contains("no secrets_key is configured") == true
        }
    }
}
