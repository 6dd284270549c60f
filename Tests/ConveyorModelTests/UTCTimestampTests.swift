import ConveyorModel
import Foundation
import Testing

@Suite("UTC timestamps")
struct UTCTimestampTests {
    /// The arithmetic matches Foundation's ISO 8601 formatter over known dates, leap days, centuries,
    /// negative times and random instants from 1900 to 2200.
    @Test func matchesFoundation() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        var samples: [Int64] = [0, 999, 1000, -1, -1000, -1001, 951_782_400_000, 951_868_799_999, 4_107_542_400_000,
                                1_795_507_266_123, 253_402_300_799_000, -2_208_988_800_000]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 { samples.append(Int64.random(in: -2_208_988_800_000...7_258_118_400_000, using: &rng)) }
        for millis in samples {
            let seconds = (Double(millis) / 1000).rounded(.down)
            let expected = formatter.string(from: Date(timeIntervalSince1970: seconds))
            #expect(UTCTimestamp.string(millis: millis) == expected, "\(millis)")
        }
        #expect(UTCTimestamp.string(millis: 1_795_507_266_123) == "2026-11-24T08:01:06Z")
        #expect(UTCTimestamp.string(millis: 951_782_400_000) == "2000-02-29T00:00:00Z")
    }
}
