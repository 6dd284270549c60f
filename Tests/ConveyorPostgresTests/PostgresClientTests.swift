import ConveyorPostgres
import ConveyorTesting
import Foundation
import Testing

@Suite("Postgres client: parameters, decoding, errors")
struct PostgresClientTests {
    @Test func roundTrip() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres()
        let row = try #require(try await pg.query("SELECT 1 + $1::int AS n, $2::text AS s, $3::bool AS b, $4::float8 AS d",
                                                  [.int(41), .text("x"), .bool(true), .double(2.5)]).first)
        #expect(row["n"].int == 42)
        #expect(try row.decode("n", as: Int.self) == 42)
        #expect(try row.decode("s", as: String.self) == "x")
        #expect(try row.decode("b", as: Bool.self) == true)
        #expect(try row.decode("d", as: Double.self) == 2.5)
        #expect(row.columnNames == ["n", "s", "b", "d"])
        // The variadic form encodes Swift values.
        let variadic = try await pg.query("SELECT $1::bigint + $2::int AS n, $3::text AS s", Int64(1) << 40, 1, "y").first
        #expect(variadic?["n"].int64 == (Int64(1) << 40) + 1)
        #expect(variadic?["s"].string == "y")
        // Affected rows.
        try await pg.query("CREATE TABLE t (id int PRIMARY KEY)")
        #expect(try await pg.query("INSERT INTO t SELECT generate_series(1, 7)").affectedRows == 7)
        #expect(try await pg.query("UPDATE t SET id = id + 100 WHERE id > $1", [.int(4)]).affectedRows == 3)
        #expect(try await pg.query("SELECT id FROM t ORDER BY id").rows.map { $0["id"].int } == [1, 2, 3, 4, 105, 106, 107])
        await pg.close()
    }

    /// Values travel apart from the SQL text: quotes, backslashes, NULLs and any unicode come back
    /// exactly as sent, and nothing in them is ever read as SQL.
    @Test func parametersAreNeverSplicedIntoSQL() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres()
        try await pg.query("CREATE TABLE notes (id serial PRIMARY KEY, body text, extra text)")
        let texts = [
            "it's a 'quoted' \"double\" string",
            "'; DROP TABLE notes; --",
            "$1 $2 ? :name %s",
            "back\\slash \\\\ \\x00 \\n \\'",
            "E'\\047' U&'\\0041'",
            "",
            "   leading and trailing spaces   ",
            "line\nbreak\r\ntab\t",
            "emoji 🚀👩‍💻🇫🇷 and 𝄞",
            "RTL: مرحبا بالعالم — שלום עולם",
            "combining: e\u{301} vs \u{e9}; zero-width: a\u{200B}b; BOM: \u{FEFF}",
            "CJK: 漢字かなカナ한국어",
            String(repeating: "long ", count: 20_000),
        ]
        for text in texts {
            let id = try await pg.query("INSERT INTO notes (body, extra) VALUES ($1, $2) RETURNING id", [.text(text), .null]).first?["id"].int
            let row = try #require(try await pg.query("SELECT body, extra, length(body) AS n FROM notes WHERE id = $1", [.optional(id)]).first)
            #expect(row["body"].string == text)
            #expect(try row.decode("body", as: String.self) == text)
            #expect(row["extra"].isNull)
            #expect(try row.decode("extra", as: String?.self) == nil)
            #expect(row["n"].int == text.unicodeScalars.count)
            // The same value found through a parameter in WHERE.
            #expect(try await pg.query("SELECT count(*) AS c FROM notes WHERE body = $1", [.text(text)]).first?["c"].int == 1)
        }
        #expect(try await pg.query("SELECT count(*) AS c FROM notes").first?["c"].int == texts.count)
        // NULL parameters: IS NOT DISTINCT FROM matches them.
        #expect(try await pg.query("SELECT count(*) AS c FROM notes WHERE extra IS NOT DISTINCT FROM $1", [.null]).first?["c"].int == texts.count)
        #expect(try await pg.query("SELECT $1::int IS NULL AS isnull", [.optional(Int?.none)]).first?["isnull"].bool == true)
        #expect(try await pg.query("SELECT $1::text AS v", [String?.none.postgresValue]).first?["v"].isNull == true)
        await pg.close()
    }

    @Test func byteaRoundTripsEveryByte() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres()
        try await pg.query("CREATE TABLE blobs (id int PRIMARY KEY, data bytea)")
        let all = (0...255).map { UInt8($0) }
        var generator = SystemRandomNumberGenerator()
        let random = (0..<300_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let samples: [[UInt8]] = [all, all.reversed(), [0], [0, 0, 0], [], Array("\\x41'\"".utf8), random]
        for (i, sample) in samples.enumerated() {
            try await pg.query("INSERT INTO blobs (id, data) VALUES ($1, $2)", [.int(i), .bytes(sample)])
            let row = try #require(try await pg.query("SELECT data, length(data) AS n FROM blobs WHERE id = $1", [.int(i)]).first)
            #expect(try row.decode("data", as: [UInt8].self) == sample)
            #expect(row["n"].int == sample.count)
        }
        // The server holds the very bytes: compare with a bytea built on the server side.
        let server = try await pg.query("SELECT data = decode($1, 'hex') AS same FROM blobs WHERE id = 0",
                                        [.text(all.map { String(format: "%02x", $0) }.joined())]).first
        #expect(server?["same"].bool == true)
        try await pg.query("INSERT INTO blobs (id, data) VALUES (99, $1)", [.null])
        let nullRow = try #require(try await pg.query("SELECT data FROM blobs WHERE id = 99").first)
        #expect(try nullRow.decode("data", as: [UInt8]?.self) == nil)
        await pg.close()
    }

    @Test func decodingErrorsNameTheColumn() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres()
        let row = try #require(try await pg.query("SELECT 'abc'::text AS word, NULL::int AS maybe, 7 AS seven").first)
        #expect(try row.decode("seven", as: Int.self) == 7)
        #expect(try row.decode("maybe", as: Int?.self) == nil)
        for (column, fragment) in [("word", "not Int"), ("maybe", "NULL"), ("nonexistent", "no such column")] {
            let error = decodingError(row, column, as: Int.self)
            #expect(error?.code == .decoding, "decoding \(column) as Int must fail")
            #expect(error?.message.contains("column \(column)") == true, "\(String(describing: error))")
            #expect(error?.message.contains(fragment) == true, "\(String(describing: error))")
        }
        #expect(decodingError(row, "word", as: Double.self)?.description.contains("word") == true)
        // A missing column is an error even for an optional.
        #expect(decodingError(row, "nonexistent", as: String?.self)?.message.contains("nonexistent") == true)
        await pg.close()
    }

    private func decodingError<T: PostgresDecodable>(_ row: PostgresRow, _ column: String, as type: T.Type) -> PostgresError? {
        switch Result(catching: { () throws(PostgresError) -> T in try row.decode(column, as: T.self) }) {
        case .success: return nil
        case .failure(let error): return error
        }
    }

    @Test func serverErrorsCarrySQLState() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres()
        try await pg.query("CREATE TABLE u (id int PRIMARY KEY)")
        try await pg.query("INSERT INTO u VALUES (1)")
        do {
            try await pg.query("INSERT INTO u VALUES ($1)", [.int(1)])
            Issue.record("a duplicate key must fail")
        } catch let error as PostgresError {
            #expect(error.sqlState == "23505")
            #expect(error.isUniqueViolation)
            #expect(error.code == .server)
            #expect(!error.isConnectionFailure)
        }
        do {
            try await pg.query("SELEC 1")
            Issue.record("a syntax error must fail")
        } catch let error as PostgresError {
            #expect(error.sqlState == "42601")
            #expect(error.message.contains("syntax error"))
        }
        do {
            try await pg.query("SELECT $1::int", [.text("not a number")])
            Issue.record("a bad cast must fail")
        } catch let error as PostgresError {
            #expect(error.sqlState == "22P02")
        }
        // The connection remains usable after errors.
        #expect(try await pg.query("SELECT count(*) AS c FROM u").first?["c"].int == 1)
        await pg.close()
    }

    @Test func statementTimeout() async throws {
        let (admin, url) = try await TestEnvironment.freshPostgres()
        await admin.close()
        let pg = PostgresClient(configuration: .init(url: url, poolSize: 1, statementTimeoutMilliseconds: 200))
        let started = ContinuousClock.now
        do {
            try await pg.query("SELECT pg_sleep(5)")
            Issue.record("pg_sleep(5) must hit the 200 ms statement timeout")
        } catch let error as PostgresError {
            #expect(error.sqlState == "57014", "\(error)")
            #expect(!error.isConnectionFailure)
        }
        #expect(ContinuousClock.now - started < .seconds(15))
        // Same connection, next statement: fine, and the timeout still applies.
        #expect(try await pg.query("SELECT 1 AS one").first?["one"].int == 1)
        #expect(try await pg.query("SHOW statement_timeout").first?["statement_timeout"].string == "200ms")
        await pg.close()
    }

    @Test func closedClientRefusesWork() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres()
        try await pg.query("SELECT 1")
        await pg.close()
        do {
            try await pg.query("SELECT 1")
            Issue.record("a closed client must refuse work")
        } catch let error as PostgresError {
            #expect(error.code == .closed)
        }
    }

    @Test func unreachableServerIsAnError() async throws {
        let port = try freeLoopbackPort()
        let pg = PostgresClient(configuration: .init(url: "postgres://conveyor@127.0.0.1:\(port)/conveyor", poolSize: 1, connectTimeoutSeconds: 2))
        do {
            try await pg.query("SELECT 1")
            Issue.record("a query to a closed port must fail")
        } catch let error as PostgresError {
            #expect(error.code == .connectFailed)
            #expect(error.isConnectionFailure)
        }
        await pg.close()
    }
}
