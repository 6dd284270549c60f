@testable import ConveyorModel
import Testing

@Suite struct CronIntervalTests {
    static let day: Int64 = 86_400_000
    // 2026-01-31T06:30:00Z
    static let jan31: Int64 = CronInterval.days(year: 2026, month: 1, day: 31) * day + (6 * 3600 + 30 * 60) * 1000

    @Test func nextIsOnePeriodAfterTheDueTimeWhenOnTime() {
        let due: Int64 = 1_700_000_000_000
        #expect(CronInterval.daily.next(after: due, now: due + 5_000) == due + Self.day)
        #expect(CronInterval.weekly.next(after: due, now: due + 5_000) == due + 7 * Self.day)
    }

    @Test func missedPeriodsCollapseIntoOneRunKeepingTheTimeOfDay() {
        let due: Int64 = 1_700_000_000_000
        // Down for ten and a half days: the run happening now is the only one; next is tomorrow at the same time.
        let now = due + 10 * Self.day + Self.day / 2
        #expect(CronInterval.daily.next(after: due, now: now) == due + 11 * Self.day)
        #expect(CronInterval.weekly.next(after: due, now: now) == due + 14 * Self.day)
        #expect(CronInterval.monthly.next(after: due, now: due + 100 * Self.day) > due + 100 * Self.day)
    }

    @Test func monthsClampToTheirLastDay() {
        #expect(UTCTimestamp.string(millis: Self.jan31) == "2026-01-31T06:30:00Z")
        let feb = CronInterval.monthly.step(Self.jan31)
        #expect(UTCTimestamp.string(millis: feb) == "2026-02-28T06:30:00Z")
        #expect(UTCTimestamp.string(millis: CronInterval.monthly.step(CronInterval.days(year: 2028, month: 1, day: 31) * Self.day)) == "2028-02-29T00:00:00Z")
        #expect(UTCTimestamp.string(millis: CronInterval.monthly.step(CronInterval.days(year: 2026, month: 12, day: 15) * Self.day)) == "2027-01-15T00:00:00Z")
    }

    @Test func daysFromCivilInvertsCivilFromDays() {
        for days in stride(from: Int64(-1000), to: 30_000, by: 37) {
            let (y, m, d) = UTCTimestamp.civil(fromDays: days)
            #expect(CronInterval.days(year: y, month: m, day: d) == days)
        }
    }

    @Test func unknownIntervalsAreRejectedByName() throws {
        #expect(throws: ConfigError.self) { try CronInterval.parse("hourly") }
        #expect(try CronInterval.parse("Weekly") == .weekly)
    }
}
