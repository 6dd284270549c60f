import ConveyorRedis
import Foundation

/// Publishes fan-out events to `cv:events` (capped with `MAXLEN ~`): compact JSON under `data`,
/// the event name under `type` (`job:started`, `build:finished`, `log:part` …).
public struct EventPublisher: Sendable {
    let redis: RedisClient
    let keys: Keys
    let maxLength: Int

    public init(redis: RedisClient, keys: Keys, maxLength: Int) {
        self.redis = redis
        self.keys = keys
        self.maxLength = maxLength
    }

    public func command(type: String, data: [String: JSONScalar]) -> RedisCommand {
        RedisClient.xaddCommand(keys.events, fields: [("type", RedisArgument(type)), ("data", RedisArgument(bytes: JSONScalar.encode(data)))],
                                trim: .maxLenApprox(maxLength))
    }

    public func publish(type: String, data: [String: JSONScalar]) async throws {
        _ = try await redis.pipeline([command(type: type, data: data)])
    }

    public func publish(_ events: [(String, [String: JSONScalar])]) async throws {
        if events.isEmpty { return }
        _ = try await redis.pipeline(events.map { command(type: $0.0, data: $0.1) })
    }
}

/// A flat JSON value for compact event payloads.
public enum JSONScalar: Sendable, Hashable, Encodable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case null

    public static func optional(_ s: String?) -> JSONScalar { s.map { .string($0) } ?? .null }
    public static func optional(_ i: Int64?) -> JSONScalar { i.map { .int($0) } ?? .null }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .string(let s): try c.encode(s)
        case .int(let i): try c.encode(i)
        case .bool(let b): try c.encode(b)
        case .null: try c.encodeNil()
        }
    }

    /// Compact JSON with sorted keys, written directly: the hub and logs encode thousands of these a
    /// second, and `JSONEncoder` costs tens of microseconds per small object on Linux.
    public static func encode(_ map: [String: JSONScalar]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(32 * map.count)
        for (index, key) in map.keys.sorted().enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            switch map[key]! {
            case .string(let value): appendString(value, to: &out)
            case .int(let value): out += Array(String(value).utf8)
            case .bool(let value): out += Array((value ? "true" : "false").utf8)
            case .null: out += Array("null".utf8)
            }
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A JSON string literal: `"` and `\` escaped, control characters as `\n`, `\t`… or `\u00XX`;
    /// everything else (UTF-8 included) as is.
    static func appendString(_ value: String, to out: inout [UInt8]) {
        // Runs of bytes that need no escape are copied at once: a log part's content (8 KiB) goes
        // through here for every `log:part` event, and byte-by-byte appends were the logs role's top
        // cost (bench/README.md, issue 25).
        var value = value
        value.withUTF8 { bytes in
            out.append(UInt8(ascii: "\""))
            var run = 0
            for i in 0..<bytes.count {
                let byte = bytes[i]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if run < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run..<i])) }
                run = i + 1
                out.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
                case 0x0A: out.append(UInt8(ascii: "n"))
                case 0x0D: out.append(UInt8(ascii: "r"))
                case 0x09: out.append(UInt8(ascii: "t"))
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    out.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
                }
            }
            if run < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[run...])) }
            out.append(UInt8(ascii: "\""))
        }
    }
}
