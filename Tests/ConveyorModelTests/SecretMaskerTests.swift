import Testing
@testable import ConveyorModel

@Suite struct SecretMaskerTests {
    private func maskAll(_ chunks: [String], secrets: [String]) -> String {
        var masker = SecretMasker(secrets: secrets)
        var output: [UInt8] = []
        for chunk in chunks { output += masker.mask(Array(chunk.utf8)) }
        output += masker.flush()
        return String(decoding: output, as: UTF8.self)
    }

    @Test func masksWithinAChunk() {
        #expect(maskAll(["token=hunter2 ok\n"], secrets: ["hunter2"]) == "token=[secure] ok\n")
    }

    @Test func masksAcrossChunkBoundaries() {
        #expect(maskAll(["abc hun", "te", "r2 def"], secrets: ["hunter2"]) == "abc [secure] def")
        #expect(maskAll(["h", "u", "n", "t", "e", "r", "2"], secrets: ["hunter2"]) == "[secure]")
    }

    @Test func everySplitPointIsMasked() {
        let text = "before s3cr3t-value middle s3cr3t-value after"
        let bytes = Array(text.utf8)
        for split in 0...bytes.count {
            let chunks = [String(decoding: bytes[..<split], as: UTF8.self), String(decoding: bytes[split...], as: UTF8.self)]
            #expect(maskAll(chunks, secrets: ["s3cr3t-value"]) == "before [secure] middle [secure] after")
        }
    }

    @Test func shortSecretsAreIgnored() {
        #expect(maskAll(["a ab abc"], secrets: ["a", "ab"]) == "a ab abc")
    }

    @Test func partialPrefixAtEndIsFlushedUnmasked() {
        #expect(maskAll(["value hunt"], secrets: ["hunter2"]) == "value hunt")
    }

    @Test func overlappingSecretsMaskTheLongest() {
        #expect(maskAll(["x passw0rd123 y"], secrets: ["passw0rd", "passw0rd123"]) == "x [secure] y")
    }

    @Test func holdsBackOnlyTheLongestSecretMinusOneBytes() {
        var masker = SecretMasker(secrets: ["hunter2"])
        #expect(masker.mask(Array("plain text!".utf8)) == Array("plain".utf8))
        #expect(masker.flush() == Array(" text!".utf8))
        var noSecrets = SecretMasker(secrets: [])
        #expect(noSecrets.mask(Array("abc".utf8)) == Array("abc".utf8))
        #expect(noSecrets.flush().isEmpty)
    }
}
