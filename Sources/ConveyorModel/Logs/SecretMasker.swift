/// Replaces secret values in a log stream with `[secure]`, chunk by chunk. A secret split across chunks
/// is still masked: up to (longest secret − 1) bytes are held back until the next chunk or `flush()`.
public struct SecretMasker: Sendable {
    public static let replacement: [UInt8] = Array("[secure]".utf8)
    private let secrets: [[UInt8]]
    private let holdBack: Int
    private var pending: [UInt8] = []

    /// Secrets shorter than 3 bytes are ignored: masking them would garble ordinary output.
    public init(secrets: [String]) {
        let usable = Set(secrets.map { Array($0.utf8) }.filter { $0.count >= 3 })
        // Longest first, so a secret containing another is masked whole.
        self.secrets = usable.sorted { $0.count > $1.count }
        self.holdBack = max(0, (self.secrets.first?.count ?? 0) - 1)
    }

    public mutating func mask(_ chunk: [UInt8]) -> [UInt8] {
        guard !secrets.isEmpty else { return chunk }
        pending += chunk
        let (output, consumed) = scan(pending, final: false)
        pending.removeFirst(consumed)
        return output
    }

    /// The held-back tail, masked. Call at the end of the stream.
    public mutating func flush() -> [UInt8] {
        let (output, _) = scan(pending, final: true)
        pending = []
        return output
    }

    /// Masks `buffer`; unless `final`, stops where a secret could still begin in bytes not yet seen.
    private func scan(_ buffer: [UInt8], final: Bool) -> (output: [UInt8], consumed: Int) {
        var output: [UInt8] = []
        output.reserveCapacity(buffer.count)
        var index = 0
        let safeEnd = final ? buffer.count : max(0, buffer.count - holdBack)
        while index < safeEnd {
            if let secret = secrets.first(where: { matches($0, in: buffer, at: index) }) {
                output += Self.replacement
                index += secret.count
            } else if !final, couldStartSecret(buffer, at: index) {
                break
            } else {
                output.append(buffer[index])
                index += 1
            }
        }
        return (output, min(index, buffer.count))
    }

    private func matches(_ secret: [UInt8], in buffer: [UInt8], at index: Int) -> Bool {
        guard index + secret.count <= buffer.count else { return false }
        for offset in secret.indices where buffer[index + offset] != secret[offset] { return false }
        return true
    }

    /// Some secret has the rest of `buffer` from `index` as a prefix (it may complete in the next chunk).
    private func couldStartSecret(_ buffer: [UInt8], at index: Int) -> Bool {
        let remaining = buffer.count - index
        return secrets.contains { secret in
            secret.count > remaining && zip(secret, buffer[index...]).allSatisfy { $0 == $1 }
        }
    }
}
