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

    public static func encode(_ map: [String: JSONScalar]) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(map)) ?? Data("{}".utf8))
    }
}
