/// One result row, decoded from libpq's text format.
public struct PostgresRow: Sendable {
    let columns: PostgresColumns
    let values: [PostgresCell]

    public subscript(_ name: String) -> PostgresCell {
        guard let i = columns.index[name] else { return PostgresCell(raw: nil, isBytea: false, column: name, missing: true) }
        return values[i]
    }

    public subscript(_ index: Int) -> PostgresCell { values[index] }

    public var columnNames: [String] { columns.names }

    /// Typed access: throws a decoding error naming the column when the value doesn't fit.
    public func decode<T: PostgresDecodable>(_ name: String, as type: T.Type = T.self) throws(PostgresError) -> T {
        try T.decode(self[name])
    }
}

final class PostgresColumns: Sendable {
    let names: [String]
    let index: [String: Int]
    init(names: [String]) {
        self.names = names
        var index: [String: Int] = [:]
        for (i, n) in names.enumerated() where index[n] == nil { index[n] = i }
        self.index = index
    }
}

/// One value of a row.
public struct PostgresCell: Sendable {
    let raw: String?
    let isBytea: Bool
    let column: String
    var missing = false

    public var isNull: Bool { raw == nil }
    public var string: String? { raw }
    public var int: Int? { raw.flatMap { Int($0) } }
    public var int64: Int64? { raw.flatMap { Int64($0) } }
    public var double: Double? { raw.flatMap { Double($0) } }
    public var bool: Bool? { raw.map { $0 == "t" || $0 == "true" } }
    /// bytea arrives as `\x` followed by hex.
    public var bytes: [UInt8]? {
        guard let raw else { return nil }
        guard isBytea, raw.hasPrefix("\\x") else { return Array(raw.utf8) }
        return Self.hexDecode(raw.utf8.dropFirst(2))
    }

    static func hexDecode<S: Collection>(_ hex: S) -> [UInt8] where S.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(hex.count / 2)
        var high: UInt8?
        for c in hex {
            let v: UInt8
            switch c {
            case 48...57: v = c - 48
            case 97...102: v = c - 87
            case 65...70: v = c - 55
            default: continue
            }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return out
    }
}

public protocol PostgresDecodable: Sendable {
    static func decode(_ cell: PostgresCell) throws(PostgresError) -> Self
}

extension PostgresDecodable {
    static func failure(_ cell: PostgresCell) -> PostgresError {
        let what = cell.missing ? "no such column" : (cell.raw == nil ? "NULL" : "a value that is not \(Self.self)")
        return PostgresError(code: .decoding, message: "column \(cell.column): \(what)")
    }
}

extension String: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws(PostgresError) -> String {
        guard let v = cell.string else { throw failure(cell) }
        return v
    }
}
extension Int: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws(PostgresError) -> Int {
        guard let v = cell.int else { throw failure(cell) }
        return v
    }
}
extension Int64: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws(PostgresError) -> Int64 {
        guard let v = cell.int64 else { throw failure(cell) }
        return v
    }
}
extension Double: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws(PostgresError) -> Double {
        guard let v = cell.double else { throw failure(cell) }
        return v
    }
}
extension Bool: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws(PostgresError) -> Bool {
        guard let v = cell.bool else { throw failure(cell) }
        return v
    }
}
extension Array: PostgresDecodable where Element == UInt8 {
    public static func decode(_ cell: PostgresCell) throws(PostgresError) -> [UInt8] {
        guard let v = cell.bytes else { throw failure(cell) }
        return v
    }
}
extension Optional: PostgresDecodable where Wrapped: PostgresDecodable {
    public static func decode(_ cell: PostgresCell) throws(PostgresError) -> Wrapped? {
        if cell.isNull && !cell.missing { return nil }
        return try Wrapped.decode(cell)
    }
}
