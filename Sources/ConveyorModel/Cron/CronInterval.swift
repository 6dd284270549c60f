/// How often a cron builds its branch (Travis's daily, weekly, monthly), and when it is next due.
/// See docs/cron.md.
public enum CronInterval: String, Sendable, CaseIterable, Codable {
    case daily, weekly, monthly

    public static func parse(_ text: String) throws(ConfigError) -> CronInterval {
        guard let interval = CronInterval(rawValue: text.lowercased()) else {
            throw ConfigError("cron interval must be daily, weekly or monthly, got '\(text)'")
        }
        return interval
    }

    /// The first due time after `now` on this cron's schedule through `due`: a cron missed while the
    /// cluster was down runs once when it returns, then keeps its time of day rather than running
    /// once per missed interval.
    public func next(after due: Int64, now: Int64) -> Int64 {
        var next = step(due)
        if next > now { return next }
        // Skip whole missed periods arithmetically for daily and weekly; months vary in length.
        switch self {
        case .daily, .weekly:
            let period = self == .daily ? Self.dayMillis : 7 * Self.dayMillis
            next += (now - next) / period * period
            while next <= now { next += period }
        case .monthly:
            while next <= now { next = step(next) }
        }
        return next
    }

    /// One period after `millis`. A month keeps the day of month, clamped to the month's last day
    /// (Jan 31 → Feb 28), and the time of day.
    public func step(_ millis: Int64) -> Int64 {
        switch self {
        case .daily: return millis + Self.dayMillis
        case .weekly: return millis + 7 * Self.dayMillis
        case .monthly:
            let days = floorDiv(millis, Self.dayMillis)
            let within = millis - days * Self.dayMillis
            let (year, month, day) = UTCTimestamp.civil(fromDays: days)
            let (nextYear, nextMonth) = month == 12 ? (year + 1, Int64(1)) : (year, month + 1)
            let clamped = min(day, Self.daysIn(year: nextYear, month: nextMonth))
            return Self.days(year: nextYear, month: nextMonth, day: clamped) * Self.dayMillis + within
        }
    }

    /// How far back `dont_run_if_recent_build_exists` looks: Travis skips a cron when the branch
    /// built within the last 24 hours, whatever the interval.
    public static let recentBuildWindowMillis: Int64 = dayMillis

    static let dayMillis: Int64 = 86_400_000

    static func daysIn(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : (a - b + 1) / b }
}
