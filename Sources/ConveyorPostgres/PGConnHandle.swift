import CLibPQ
import Foundation

/// Owns one `PGconn`. Only used inside its pooled connection's `Mutex` (`ConnectionIO`), by one
/// thread at a time. All libpq calls of the project live in this file and the `PGConnHandle+`
/// files; every `PGresult` is freed before returning.
final class PGConnHandle {
    private(set) var conn: OpaquePointer?
    /// Counts successful connects: a socket number seen under another generation is another socket
    /// (the one watched before was closed, which took it out of any epoll set).
    private(set) var generation: UInt64 = 0

    var isConnected: Bool {
        guard let conn else { return false }
        return PQstatus(conn) == CONNECTION_OK
    }

    func connect(url: String, connectTimeoutSeconds: Int, statementTimeoutMilliseconds: Int) throws(PostgresError) {
        close()
        let keys = ["dbname", "connect_timeout", "application_name"]
        let values = [url, String(connectTimeoutSeconds), "conveyor"]
        let connection: OpaquePointer? = Self.withCStrings(keys) { k in
            Self.withCStrings(values) { v in PQconnectdbParams(k, v, 1) }
        }
        guard let connection else { throw PostgresError(code: .connectFailed, message: "cannot allocate connection") }
        if PQstatus(connection) != CONNECTION_OK {
            let message = Self.text(PQerrorMessage(connection))
            PQfinish(connection)
            throw PostgresError(code: .connectFailed, message: message)
        }
        conn = connection
        generation &+= 1
        if statementTimeoutMilliseconds > 0 {
            _ = try execute("SET statement_timeout = \(statementTimeoutMilliseconds)", [])
        }
    }

    /// Runs one statement with its parameters; returns rows and the affected-row count.
    func execute(_ sql: String, _ params: [PostgresValue]) throws(PostgresError) -> PostgresResult {
        guard let conn else { throw PostgresError(code: .connectionLost, message: "not connected", query: sql) }
        // Without parameters the simple protocol is used, which also accepts several statements (migrations).
        let result: OpaquePointer? = params.isEmpty ? PQexec(conn, sql) : Self.withParameters(params) { n, types, values, lengths, formats in
            PQexecParams(conn, sql, n, types, values, lengths, formats, 0)
        }
        guard let result else { throw failure(nil, sql) }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY else {
            throw failure(result, sql)
        }
        return Self.decode(result)
    }

    /// The error of a failed call (`result` nil) or of an error result. A connection that is no
    /// longer OK is closed here: it is never reused broken.
    func failure(_ result: OpaquePointer?, _ sql: String) -> PostgresError {
        let lost = conn.map { PQstatus($0) != CONNECTION_OK } ?? true
        var error: PostgresError
        if let result {
            let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let primary = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
            let message = primary ?? Self.text(PQresultErrorMessage(result))
            error = PostgresError(code: lost ? .connectionLost : .server, message: message, sqlState: sqlState, query: sql)
        } else {
            let message = conn.map { Self.text(PQerrorMessage($0)) } ?? "not connected"
            error = PostgresError(code: lost ? .connectionLost : .server, message: message, query: sql)
        }
        if lost { close() }
        return error
    }

    /// Calls `body` with the parameter arrays libpq takes (text values, bytea as binary).
    static func withParameters<R>(_ params: [PostgresValue],
                                  _ body: (Int32, [UInt32], UnsafePointer<UnsafePointer<CChar>?>?, [Int32], [Int32]) -> R) -> R {
        var lengths = [Int32]()
        var formats = [Int32]()
        var types = [UInt32]()
        var buffers = [[UInt8]?]()
        lengths.reserveCapacity(params.count)
        formats.reserveCapacity(params.count)
        types.reserveCapacity(params.count)
        buffers.reserveCapacity(params.count)
        for p in params {
            switch p {
            case .null: buffers.append(nil); lengths.append(0); formats.append(0); types.append(0)
            case .text(let s):
                var b = Array(s.utf8); b.append(0)
                buffers.append(b); lengths.append(Int32(b.count - 1)); formats.append(0); types.append(0)
            case .bytes(let b):
                buffers.append(b.isEmpty ? [0] : b); lengths.append(Int32(b.count)); formats.append(1); types.append(17) // bytea
            }
        }
        return withPointers(buffers) { values in body(Int32(params.count), types, values, lengths, formats) }
    }

    func close() {
        if let conn { PQfinish(conn) }
        conn = nil
    }

    deinit { close() }

    static func decode(_ result: OpaquePointer) -> PostgresResult {
        let nRows = Int(PQntuples(result))
        let nCols = Int(PQnfields(result))
        var names = [String]()
        var bytea = [Bool]()
        for c in 0..<nCols {
            names.append(String(cString: PQfname(result, Int32(c))))
            bytea.append(PQftype(result, Int32(c)) == 17)
        }
        let columns = PostgresColumns(names: names)
        var rows = [PostgresRow]()
        rows.reserveCapacity(nRows)
        for r in 0..<nRows {
            var cells = [PostgresCell]()
            cells.reserveCapacity(nCols)
            for c in 0..<nCols {
                let raw: String? = PQgetisnull(result, Int32(r), Int32(c)) == 1 ? nil : {
                    let length = Int(PQgetlength(result, Int32(r), Int32(c)))
                    let pointer = PQgetvalue(result, Int32(r), Int32(c))!
                    return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
                }()
                cells.append(PostgresCell(raw: raw, isBytea: bytea[c], column: names[c]))
            }
            rows.append(PostgresRow(columns: columns, values: cells))
        }
        let affected = Int(String(cString: PQcmdTuples(result))) ?? 0
        return PostgresResult(rows: rows, affectedRows: affected)
    }

    static func text(_ p: UnsafeMutablePointer<CChar>?) -> String {
        guard let p else { return "unknown error" }
        return String(cString: p).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
        let duplicated = strings.map { strdup($0) }
        defer { duplicated.forEach { free($0) } }
        var pointers: [UnsafePointer<CChar>?] = duplicated.map { UnsafePointer($0) }
        pointers.append(nil)
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    private static func withPointers<R>(_ buffers: [[UInt8]?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?) -> R) -> R {
        // Copy each parameter into one allocation that lives for the duration of the call.
        let copies: [UnsafeMutablePointer<CChar>?] = buffers.map { b in
            guard let b else { return nil }
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: b.count)
            b.withUnsafeBufferPointer { src in
                UnsafeMutableRawPointer(p).copyMemory(from: src.baseAddress!, byteCount: b.count)
            }
            return p
        }
        defer { copies.forEach { $0?.deallocate() } }
        let pointers: [UnsafePointer<CChar>?] = copies.map { $0.map { UnsafePointer($0) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress) }
    }
}

/// Rows of one statement.
public struct PostgresResult: Sendable {
    public var rows: [PostgresRow]
    public var affectedRows: Int
    public var first: PostgresRow? { rows.first }
}
