import ConveyorPostgres
import ConveyorTesting
import Foundation
import Testing

@Suite("Postgres client: array parameters")
struct PostgresArrayValueTests {
    /// Text elements that the array parser would otherwise read as syntax or NULL come back as sent,
    /// in order; nil elements are SQL NULL; integer and boolean arrays too.
    @Test func elementsSurviveTheArrayParser() async throws {
        let (pg, _) = try await TestEnvironment.freshPostgres()
        let texts: [String?] = ["plain", "comma, {brace}", "quote \" and back\\slash", "NULL", "", " spaced ", nil, "ünïcödé ✓", "line\nbreak"]
        let rows = try await pg.query("SELECT t, n FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n", [.array(texts)]).rows
        #expect(rows.map { $0["t"].string } == texts)

        let ints: [Int64?] = [1, nil, -5, Int64.max]
        let intRows = try await pg.query("SELECT i FROM unnest($1::bigint[]) WITH ORDINALITY AS u(i, n) ORDER BY n", [.array(ints)]).rows
        #expect(intRows.map { $0["i"].int64 } == ints)

        let bools = try await pg.query("SELECT b FROM unnest($1::bool[]) WITH ORDINALITY AS u(b, n) ORDER BY n", [.array([true, false, true])]).rows
        #expect(bools.map { $0["b"].bool } == [true, false, true])

        let json = try await pg.query("SELECT j->>'k' AS k FROM unnest($1::jsonb[]) AS u(j)", [.array([#"{"k": "v \"q\""}"# as String?])]).rows
        #expect(json.first?["k"].string == "v \"q\"")
        await pg.close()
    }
}
