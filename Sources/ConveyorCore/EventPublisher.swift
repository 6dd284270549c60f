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
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
