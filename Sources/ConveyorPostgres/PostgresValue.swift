import Foundation

/// A query parameter. Values travel separately from the SQL text (`$1`, `$2` …): nothing is ever
/// spliced into a statement.
public enum PostgresValue: Sendable, Hashable {
    case null
    case text(String)
    case bytes([UInt8])

    public static func int<I: BinaryInteger>(_ v: I) -> PostgresValue { .text(String(v)) }
    public static func bool(_ v: Bool) -> PostgresValue { .text(v ? "t" : "f") }
    public static func double(_ v: Double) -> PostgresValue { .text(String(v)) }
    public static func optional(_ v: String?) -> PostgresValue { v.map { .text($0) } ?? .null }
    public static func optional<I: BinaryInteger>(_ v: I?) -> PostgresValue { v.map { .text(String($0)) } ?? .null }
    /// A JSON document from an `Encodable` value.
    public static func json<T: Encodable>(_ v: T) throws -> PostgresValue {
        .text(String(decoding: try JSONEncoder().encode(v), as: UTF8.self))
    }
}

/// Types that can be passed as parameters directly.
public protocol PostgresEncodable: Sendable {
    var postgresValue: PostgresValue { get }
}

extension String: PostgresEncodable { public var postgresValue: PostgresValue { .text(self) } }
extension Int: PostgresEncodable { public var postgresValue: PostgresValue { .int(self) } }
extension Int64: PostgresEncodable { public var postgresValue: PostgresValue { .int(self) } }
extension Int32: PostgresEncodable { public var postgresValue: PostgresValue { .int(self) } }
extension Bool: PostgresEncodable { public var postgresValue: PostgresValue { .bool(self) } }
extension Double: PostgresEncodable { public var postgresValue: PostgresValue { .double(self) } }
extension PostgresValue: PostgresEncodable { public var postgresValue: PostgresValue { self } }
extension Array: PostgresEncodable where Element == UInt8 { public var postgresValue: PostgresValue { .bytes(self) } }
extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresValue: PostgresValue { self?.postgresValue ?? .null }
}
