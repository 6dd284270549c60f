@testable import ConveyorHub
import ConveyorSecrets
import Foundation
import Testing

/// Opening `secure:` targets and redacting what is recorded about them, without servers.
@Suite struct SecureTargetsTests {
    @Test func standInsOpenToThePlaintextAndErrorsAreRedacted() throws {
        let pair = try RepositoryKeyPair.generate()
        let key = try RepositoryPrivateKey(pem: pair.privateKeyPEM)
        let room = "https://hooks.example/services/T0/B0/s3cr3t#deploys"
        let ciphertext = try SecureValueCipher.encrypt(room, publicKeyPEM: pair.publicKeyPEM)
        let sealed = SecureTargets.sealedMap([ciphertext])
        let standIn = try #require(sealed.keys.first)
        #expect(standIn.hasPrefix("secure:") && standIn.count == "secure:".count + 16)
        #expect(!SecureTargets.json(sealed).contains("s3cr3t"))

        let opened = try SecureTargets.open(target: standIn, sealedJSON: SecureTargets.json(sealed), key: key)
        #expect(opened.target == room)
        // curl quotes the URL without its #channel; both are replaced.
        let error = opened.redact("Could not POST https://hooks.example/services/T0/B0/s3cr3t (for \(room))")
        #expect(!error.contains("s3cr3t"))
        #expect(error == "Could not POST \(standIn) (for \(standIn))")

        // Email: plain recipients stay, stand-ins are replaced in place.
        let mail = try SecureValueCipher.encrypt("ops@example.test", publicKeyPEM: pair.publicKeyPEM)
        let mailSealed = SecureTargets.sealedMap([mail])
        let mailStandIn = try #require(mailSealed.keys.first)
        let recipients = try SecureTargets.open(target: "dev@example.test,\(mailStandIn)", sealedJSON: SecureTargets.json(mailSealed), key: key)
        #expect(recipients.target == "dev@example.test,ops@example.test")
    }

    @Test func aTargetForAnotherKeyFailsNamingOnlyItsStandIn() throws {
        let mine = try RepositoryKeyPair.generate(), theirs = try RepositoryKeyPair.generate()
        let ciphertext = try SecureValueCipher.encrypt("https://hooks.example/x", publicKeyPEM: theirs.publicKeyPEM)
        let sealed = SecureTargets.sealedMap([ciphertext])
        let standIn = try #require(sealed.keys.first)
        #expect {
            try SecureTargets.open(target: standIn, sealedJSON: SecureTargets.json(sealed), key: try RepositoryPrivateKey(pem: mine.privateKeyPEM))
        } throws: { error in
            "\(error)".contains(standIn) && !"\(error)".contains("hooks.example")
        }
    }
}
