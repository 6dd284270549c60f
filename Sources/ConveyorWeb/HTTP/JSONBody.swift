import Foundation
import Hummingbird

/// Decodes a JSON request body into a typed value, answering 4xx that name what was wrong
/// (docs/api.md#errors). Before `JSONDecoder` sees the bytes, one pass checks that they are
/// UTF-8, nest at most `maxDepth` deep, and hold no text PostgreSQL can't store (NUL, a lone
/// UTF-16 surrogate), so no body can exhaust the stack or fail later as a 500.
enum JSONBody {
    static let maxDepth = 32

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], maxDepth: Int = maxDepth) throws -> T {
        try check(bytes, maxDepth: maxDepth)
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            throw APIError(.badRequest, message(for: error))
        }
    }

    /// The checks `decode` makes before parsing; also run on webhook payloads.
    static func check(_ bytes: [UInt8], maxDepth: Int) throws {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            throw APIError(.badRequest, "the body is empty; expected a JSON object")
        }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw APIError(.badRequest, "the body is not valid UTF-8")
        }
        if let problem = scan(bytes, maxDepth: maxDepth) { throw APIError(.badRequest, problem) }
    }

    /// Walks the bytes once, outside and inside strings, without building anything.
    static func scan(_ bytes: [UInt8], maxDepth: Int) -> String? {
        var depth = 0
        var i = 0
        let n = bytes.count
        while i < n {
            switch bytes[i] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                if depth > maxDepth { return "the body nests deeper than \(maxDepth) levels" }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: "\""):
                i += 1
                while i < n, bytes[i] != UInt8(ascii: "\"") {
                    if bytes[i] == UInt8(ascii: "\\"), i + 1 < n {
                        if bytes[i + 1] == UInt8(ascii: "u"), let unit = hex4(bytes, i + 2) {
                            if unit == 0 { return "the body contains a NUL character (\\u0000), which is not accepted" }
                            if (0xDC00...0xDFFF).contains(unit) { return "the body contains a lone UTF-16 surrogate (\\u\(String(unit, radix: 16)))" }
                            if (0xD800...0xDBFF).contains(unit) {
                                guard i + 11 < n, bytes[i + 6] == UInt8(ascii: "\\"), bytes[i + 7] == UInt8(ascii: "u"),
                                      let low = hex4(bytes, i + 8), (0xDC00...0xDFFF).contains(low) else {
                                    return "the body contains a lone UTF-16 surrogate (\\u\(String(unit, radix: 16)))"
                                }
                                i += 6
                            }
                            i += 5
                        } else {
                            i += 1
                        }
                    } else if bytes[i] == 0 {
                        return "the body contains a NUL byte"
                    }
                    i += 1
                }
            default:
                break
            }
            i += 1
        }
        return nil
    }

    static func hex4(_ bytes: [UInt8], _ at: Int) -> Int? {
        guard at + 4 <= bytes.count else { return nil }
        var value = 0
        for byte in bytes[at..<at + 4] {
            guard let digit = Int(String(UnicodeScalar(byte)), radix: 16) else { return nil }
            value = value * 16 + digit
        }
        return value
    }

    /// "missing field `branch`", "field `config`: expected a string or an object"…
    static func message(for error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field `\(path(context.codingPath + [key]))`"
        case .valueNotFound(let type, let context):
            return "field `\(path(context.codingPath))` must not be null; expected \(describe(type))"
        case .typeMismatch(let type, let context):
            if context.codingPath.isEmpty { return "the body must be \(describe(type))" }
            return "field `\(path(context.codingPath))`: expected \(describe(type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "the body is not valid JSON" }
            return "field `\(path(context.codingPath))`: \(context.debugDescription)"
        @unknown default:
            return "the body could not be decoded"
        }
    }

    static func path(_ keys: [any CodingKey]) -> String {
        var text = ""
        for key in keys {
            if let index = key.intValue { text += "[\(index)]" } else { text += text.isEmpty ? key.stringValue : "." + key.stringValue }
        }
        return text
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        case is [Any].Type: return "an array"
        default:
            let name = String(describing: type)
            return name.hasPrefix("Dictionary") || name.hasPrefix("KeyedDecodingContainer") ? "a JSON object" : "a JSON value of type \(name)"
        }
    }
}

extension Request {
    /// The body, bounded so a huge upload cannot exhaust memory.
    func bodyBytes(limit: Int) async throws -> [UInt8] {
        do {
            let buffer = try await body.collect(upTo: limit)
            return Array(buffer.readableBytesView)
        } catch {
            throw APIError(.contentTooLarge, "the body is larger than \(limit) bytes")
        }
    }
}
