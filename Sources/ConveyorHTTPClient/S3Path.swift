import Crypto

/// URI encoding as S3 expects in a path: everything but unreserved characters and "/" is
/// percent-encoded, so the signed canonical URI matches what the server sees.
enum S3Path {
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + hexByte(byte).uppercased()
            }
        }
        return out
    }
}

func hexByte(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]])
}

extension Sequence where Element == UInt8 {
    /// Lower-case hex.
    var hex: String { map(hexByte).joined() }
}

extension Digest {
    var hex: String { Array(self).hex }
}
