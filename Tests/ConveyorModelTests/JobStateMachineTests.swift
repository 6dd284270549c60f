import Testing
@testable import ConveyorModel

@Suite struct JobStateMachineTests {
    private func event(_ kind: JobEventKind, attempt: Int = 1, seq: Int, at: Int64 = 100, result: JobState? = nil,
                       reason: String? = nil) -> JobEvent {
        JobEvent(kind: kind, attempt: attempt, seq: seq, at: at, result: result, reason: reason)
    }

    private func applied(_ outcome: JobTransitionOutcome) -> JobRecord? {
        if case .applied(let record) = outcome { return record }
        return nil
    }

    @Test func happyPathMovesForward() throws {
        var record = JobRecord()
        for (kind, seq) in [(JobEventKind.queued, 0), (.received, 1), (.started, 2)] {
            record = try #require(applied(JobStateMachine.apply(event(kind, seq: seq, at: Int64(seq + 10)), to: record, maxAttempts: 3)))
        }
        #expect(record.state == .started)
        record = try #require(applied(JobStateMachine.apply(event(.finished, seq: 3, at: 50, result: .passed), to: record, maxAttempts: 3)))
        #expect(record.state == .passed)
        #expect(record.queuedAt == 10 && record.receivedAt == 11 && record.startedAt == 12 && record.finishedAt == 50)
        #expect(record.lastSeq == 3)
    }

    @Test func staleAttemptIsIgnored() {
        let record = JobRecord(state: .queued, attempt: 2)
        #expect(JobStateMachine.apply(event(.started, attempt: 1, seq: 5), to: record, maxAttempts: 3)
            == .ignored("stale attempt 1 < 2"))
    }

    @Test func duplicateAndOldSeqAreIgnored() {
        let record = JobRecord(state: .started, attempt: 1, lastSeq: 5)
        #expect(JobStateMachine.apply(event(.started, seq: 5), to: record, maxAttempts: 3) == .ignored("duplicate"))
        #expect(JobStateMachine.apply(event(.received, seq: 3), to: record, maxAttempts: 3) == .ignored("seq 3 ≤ 5"))
    }

    @Test func finalStatesAreAbsorbing() {
        let passed = JobRecord(state: .passed, attempt: 1, lastSeq: 3, finishedAt: 9)
        #expect(JobStateMachine.apply(event(.finished, seq: 4, result: .failed), to: passed, maxAttempts: 3)
            == .ignored("job already passed"))
        let canceled = JobRecord(state: .canceled, attempt: 1, lastSeq: 1, finishedAt: 9)
        #expect(JobStateMachine.apply(event(.finished, seq: 4, result: .passed), to: canceled, maxAttempts: 3)
            == .ignored("job already canceled"))
        #expect(JobStateMachine.apply(event(.cancel, seq: 0), to: passed, maxAttempts: 3) == .ignored("job already passed"))
    }

    @Test func finishThenStartKeepsFinishedWithBothTimestamps() throws {
        var record = JobRecord(state: .received, attempt: 1, lastSeq: 1, receivedAt: 5)
        var finished = event(.finished, seq: 2, at: 30, result: .failed)
        finished.startedAt = 20
        record = try #require(applied(JobStateMachine.apply(finished, to: record, maxAttempts: 3)))
        // A late `started` with a newer seq fills nothing new and cannot move the state back.
        let late = JobStateMachine.apply(event(.started, seq: 3, at: 21), to: record, maxAttempts: 3)
        if case .applied(let after) = late { record = after }
        #expect(record.state == .failed)
        #expect(record.startedAt == 20 && record.finishedAt == 30)
    }

    @Test func lateLowerRankEventFillsItsTimestamp() throws {
        let record = JobRecord(state: .started, attempt: 1, lastSeq: 2, startedAt: 20)
        let after = try #require(applied(JobStateMachine.apply(event(.received, seq: 3, at: 15), to: record, maxAttempts: 3)))
        #expect(after.state == .started)
        #expect(after.receivedAt == 15)
        #expect(after.lastSeq == 3)
    }

    @Test func resetStartsANewAttempt() throws {
        let record = JobRecord(state: .started, attempt: 1, lastSeq: 4, queuedAt: 1, receivedAt: 2, startedAt: 3)
        let after = try #require(applied(JobStateMachine.apply(event(.reset, seq: 5, reason: "vm lost"), to: record, maxAttempts: 3)))
        #expect(after == JobRecord(state: .created, attempt: 2, lastSeq: 0))
    }

    @Test func resetPastMaxAttemptsErrors() throws {
        let record = JobRecord(state: .started, attempt: 3, lastSeq: 4)
        let after = try #require(applied(JobStateMachine.apply(event(.reset, attempt: 3, seq: 5, at: 77, reason: "worker lost"),
                                                              to: record, maxAttempts: 3)))
        #expect(after.state == .errored)
        #expect(after.finishedReason == "worker lost: gave up after 3 attempts")
        #expect(after.finishedAt == 77)
    }

    @Test func resetOfOtherAttemptOrFinalJobIsIgnored() {
        #expect(JobStateMachine.apply(event(.reset, attempt: 1, seq: 1), to: JobRecord(state: .queued, attempt: 2), maxAttempts: 3)
            != .applied(JobRecord(state: .created, attempt: 3)))
        if case .applied = JobStateMachine.apply(event(.reset, seq: 1), to: JobRecord(state: .passed), maxAttempts: 3) {
            Issue.record("reset of a passed job must be ignored")
        }
    }

    @Test func cancelAnyAttemptOfUnfinishedJob() throws {
        let after = try #require(applied(JobStateMachine.apply(event(.cancel, attempt: 0, seq: 0, at: 42),
                                                              to: JobRecord(state: .started, attempt: 2), maxAttempts: 3)))
        #expect(after.state == .canceled)
        #expect(after.finishedAt == 42)
    }

    @Test func restartOnlyFinalJobs() throws {
        let after = try #require(applied(JobStateMachine.apply(event(.restart, seq: 0), to: JobRecord(state: .failed, attempt: 1, lastSeq: 3, finishedAt: 3), maxAttempts: 3)))
        #expect(after == JobRecord(state: .created, attempt: 2, lastSeq: 0))
        #expect(JobStateMachine.apply(event(.restart, seq: 0), to: JobRecord(state: .started), maxAttempts: 3)
            == .ignored("job is started, not finished"))
    }

    /// Any delivery order of one attempt's events, with duplicates, converges to the same record.
    @Test(arguments: [JobState.passed, .failed, .errored, .canceled])
    func outOfOrderDeliveryConverges(result: JobState) {
        var finished = event(.finished, seq: 3, at: 40, result: result)
        finished.receivedAt = 20
        finished.startedAt = 30
        let events = [event(.queued, seq: 0, at: 10), event(.received, seq: 1, at: 20),
                      event(.started, seq: 2, at: 30), finished]
        let expected = JobRecord(state: result, attempt: 1, lastSeq: 3, queuedAt: 10, receivedAt: 20,
                                 startedAt: 30, finishedAt: 40)
        var generator = SplitMix(seed: UInt64(result.rank * 7 + result.rawValue.count))
        for _ in 0..<300 {
            var delivery = events + (0..<Int.random(in: 0...4, using: &generator)).map { _ in events.randomElement(using: &generator)! }
            delivery.shuffle(using: &generator)
            var record = JobRecord(state: .created, attempt: 1)
            for event in delivery {
                if case .applied(let next) = JobStateMachine.apply(event, to: record, maxAttempts: 3) { record = next }
            }
            #expect(record == expected)
        }
    }
}

/// Deterministic random numbers, so a failing order can be reproduced.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
