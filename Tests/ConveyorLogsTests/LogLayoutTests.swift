import ConveyorCore
import ConveyorLogs
import Testing

@Suite("LogLayout: merging parts by number")
struct LogLayoutTests {
    func layout(_ parts: [(Int, String)]) -> LogLayout {
        LogLayout().merging(parts.map { ($0.0, Array($0.1.utf8)) })
    }

    @Test func mergesInNumberOrderWhateverTheArrivalOrder() {
        let merged = layout([(3, "c"), (1, "a"), (2, "bb")])
        #expect(merged.content == Array("abbc".utf8))
        #expect(merged.numbers == [1, 2, 3])
        #expect(merged.offsets == [0, 1, 3])
    }

    @Test func aLatePartGoesBetweenItsNeighbours() {
        let base = layout([(1, "one "), (2, "two "), (4, "four")])
        let merged = base.merging([(3, Array("three ".utf8))])
        #expect(String(decoding: merged.content, as: UTF8.self) == "one two three four")
        #expect(merged.numbers == [1, 2, 3, 4])
        #expect(Array(merged.segment(2)) == Array("three ".utf8))
    }

    @Test func duplicatesAreIgnoredAndMergingIsIdempotent() {
        let base = layout([(1, "a"), (2, "b")])
        let again = base.merging([(2, Array("X".utf8)), (1, Array("Y".utf8))])
        #expect(again == base)
        let twice = LogLayout().merging([(5, Array("first".utf8)), (5, Array("second".utf8))])
        #expect(twice.content.count == 5)
    }

    @Test func bytesAfterAPartNumber() {
        let base = layout([(1, "a"), (2, "bb"), (5, "ccc")])
        #expect(Array(base.bytes(after: 0)) == Array("abbccc".utf8))
        #expect(Array(base.bytes(after: 2)) == Array("ccc".utf8))
        #expect(Array(base.bytes(after: 3)) == Array("ccc".utf8))
        #expect(base.bytes(after: 5).isEmpty)
    }
}

@Suite("LivePartSequencer: no gap, no duplicate")
struct LivePartSequencerTests {
    func part(_ n: Int) -> LogPart { LogPart(job: 1, attempt: 1, number: n, final: false, content: Array("\(n) ".utf8)) }

    @Test func inOrderPartsPassStraightThroughAndDuplicatesAreDropped() {
        var sequencer = LivePartSequencer(last: 2)
        #expect(sequencer.accept(part(2)).isEmpty)
        #expect(sequencer.accept(part(3)).map(\.number) == [3])
        #expect(sequencer.accept(part(3)).isEmpty)
        #expect(sequencer.accept(part(4)).map(\.number) == [4])
        #expect(sequencer.last == 4)
    }

    @Test func outOfOrderPartsAreHeldUntilTheGapFills() {
        var sequencer = LivePartSequencer(last: nil)
        #expect(sequencer.accept(part(3)).isEmpty)
        #expect(sequencer.accept(part(2)).isEmpty)
        #expect(sequencer.accept(part(1)).map(\.number) == [1, 2, 3])
    }

    @Test func aGapThatStaysOpenIsFilledFromTheStore() {
        var sequencer = LivePartSequencer(last: 1, gapTimeout: .milliseconds(10))
        let start = ContinuousClock.now
        #expect(sequencer.accept(part(4), now: start).isEmpty)
        #expect(!sequencer.needsCatchUp(now: start))
        #expect(sequencer.needsCatchUp(now: start + .milliseconds(20)))
        // The store has 2 (3 was never stored, e.g. over the limit); 4 is held.
        let out = sequencer.catchUp([part(2)])
        #expect(out.map(\.number) == [2, 4])
        #expect(sequencer.last == 4)
        #expect(!sequencer.needsCatchUp(now: start + .seconds(1)))
    }

    @Test func eventsRoundTrip() throws {
        let original = LogPart(job: 7, attempt: 2, number: 9, final: true, content: Array("héllo\n".utf8))
        let data = JSONScalar.encode(["job": .int(7), "attempt": .int(2), "number": .int(9), "final": .bool(true), "content": .string("héllo\n")])
        #expect(LogPartEvent.decode(data) == original)
    }
}
