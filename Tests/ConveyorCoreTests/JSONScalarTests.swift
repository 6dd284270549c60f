import ConveyorCore
import Foundation
import Testing

@Suite("Event JSON")
struct JSONScalarTests {
    /// The hand-written encoder produces JSON that a standard parser reads back to the same values,
    /// with keys sorted, for strings that need every kind of escape.
    @Test func encodesWhatAParserReadsBack() throws {
        let awkward = "quote \" backslash \\ newline \n tab \t return \r bell \u{07} nul \u{00} slash / ünïcödé ✓ 🚀"
        let map: [String: JSONScalar] = ["z": .string(awkward), "a": .int(-42), "m": .bool(true), "b": .null, "n": .bool(false),
                                         "big": .int(Int64.max), "empty": .string("")]
        let bytes = JSONScalar.encode(map)
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(parsed["z"] as? String == awkward)
        #expect((parsed["a"] as? NSNumber)?.int64Value == -42)
        #expect((parsed["big"] as? NSNumber)?.int64Value == Int64.max)
        #expect(parsed["m"] as? Bool == true && parsed["n"] as? Bool == false)
        #expect(parsed["b"] is NSNull)
        #expect(parsed["empty"] as? String == "")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"a":-42,"b":null,"big":"#))
        #expect(JSONScalar.encode([:]) == Array("{}".utf8))
    }

    /// Property: strings mixing plain runs with every kind of escape (at the start, the end, back to
    /// back) read back the same; the encoder copies plain runs at once, so their edges are the risk.
    @Test func runsAndEscapesReadBack() throws {
        let pieces = ["", "a", "plain run of text ", "\"", "\\", "\n", "\r", "\t", "\u{01}", "\u{1F}", "ü", "✓", "🚀", "/"]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let value = (0..<Int.random(in: 0...12, using: &rng)).map { _ in pieces.randomElement(using: &rng)! }.joined()
            let parsed = try #require(try JSONSerialization.jsonObject(with: Data(JSONScalar.encode(["v": .string(value)]))) as? [String: Any])
            #expect(parsed["v"] as? String == value, "\(value.debugDescription)")
        }
    }
}
