import Crypto
import Foundation

/// GitHub's `X-Hub-Signature-256` (HMAC-SHA256 of the raw body), checked before anything reads
/// the body (docs/api.md#webhooks).
struct WebhookSignature: Sendable {
    let digest: [UInt8]

    /// `sha256=` and 64 hex digits, or nil.
    init?(header: String?) {
        guard let header, header.hasPrefix("sha256="), header.utf8.count == 71 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        var high: UInt8?
        for c in header.utf8.dropFirst(7) {
            let v: UInt8
            switch c {
            case 0x30...0x39: v = c - 0x30
            case 0x61...0x66: v = c - 0x61 + 10
            case 0x41...0x46: v = c - 0x41 + 10
            default: return nil
            }
            if let h = high { bytes.append(h << 4 | v); high = nil } else { high = v }
        }
        digest = bytes
    }

    func matches(_ body: [UInt8], secret: String) -> Bool {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8)))
        return constantTimeEqual(Array(mac), digest)
    }
}

/// Finds `repository.full_name` in a payload whose signature did not match the global secret, so
/// the repository's own secret can be tried. One pass over the bytes, no allocation but the name,
/// no recursion: an unauthenticated body costs this scan and one indexed lookup, nothing more.
/// A JSON parser may see another value than this scan (duplicate keys, escapes), so the route
/// compares the parsed name with this one after the signature matched.
enum RepositoryNameScan {
    static func fullName(in bytes: [UInt8]) -> String? {
        let n = bytes.count
        var depth = 0
        var i = 0
        var topKey: Range<Int>?        // the last key seen at depth 1
        var inRepository = false       // inside the object value of the top-level "repository"
        while i < n {
            let byte = bytes[i]
            if byte == UInt8(ascii: "\"") {
                guard let end = stringEnd(bytes, from: i) else { return nil }
                let content = (i + 1)..<end
                i = end + 1
                var j = i
                while j < n, isSpace(bytes[j]) { j += 1 }
                guard j < n, bytes[j] == UInt8(ascii: ":") else { continue }  // a value, not a key
                if depth == 1 { topKey = content; inRepository = false }
                if depth == 2, inRepository, equals(bytes, content, "full_name") {
                    j += 1
                    while j < n, isSpace(bytes[j]) { j += 1 }
                    guard j < n, bytes[j] == UInt8(ascii: "\""), let valueEnd = stringEnd(bytes, from: j), valueEnd - j <= 256 else { return nil }
                    let literal = Array(bytes[j...valueEnd])
                    if literal.contains(UInt8(ascii: "\\")) { return try? JSONDecoder().decode(String.self, from: Data(literal)) }
                    return String(decoding: literal.dropFirst().dropLast(), as: UTF8.self)
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth == 2, byte == UInt8(ascii: "{"), let key = topKey, equals(bytes, key, "repository") { inRepository = true }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 2 { inRepository = false; topKey = nil }
                depth -= 1
            default: break
            }
            i += 1
        }
        return nil
    }

    /// The index of the quote closing the string that opens at `start`.
    static func stringEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var i = start + 1
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\") { i += 2; continue }
            if bytes[i] == UInt8(ascii: "\"") { return i }
            i += 1
        }
        return nil
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    static func equals(_ bytes: [UInt8], _ range: Range<Int>, _ text: StaticString) -> Bool {
        guard range.count == text.utf8CodeUnitCount else { return false }
        return text.withUTF8Buffer { buffer in zip(bytes[range], buffer).allSatisfy { $0 == $1 } }
    }
}
