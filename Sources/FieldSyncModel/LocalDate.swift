/// A calendar day, without a time or a zone: what working-day limits and
/// reporting periods count in. Stored as days since 1970-01-01.
public struct LocalDate: Hashable, Comparable, Sendable, CustomStringConvertible, Strideable {
    public var dayNumber: Int64

    public init(dayNumber: Int64) { self.dayNumber = dayNumber }

    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day) else { return nil }
        dayNumber = daysFromCivil(year: year, month: month, day: day)
    }

    /// The first day of a month; a month outside 1...12 rolls into the next or previous year.
    public static func first(ofMonth month: Int, year: Int) -> LocalDate {
        let zeroBased = month - 1
        let carry = zeroBased >= 0 ? zeroBased / 12 : (zeroBased - 11) / 12
        return LocalDate(dayNumber: daysFromCivil(year: year + carry, month: zeroBased - carry * 12 + 1, day: 1))
    }

    /// `YYYY-MM-DD`.
    public init?(iso text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]) else { return nil }
        self.init(year: year, month: month, day: day)
    }

    public var components: (year: Int, month: Int, day: Int) { civil(fromDays: dayNumber) }

    /// ISO weekday: 1 Monday … 7 Sunday (1970-01-01 was a Thursday).
    public var weekday: Int { Int(((dayNumber % 7) + 7 + 3) % 7) + 1 }

    public var isWeekend: Bool { weekday >= 6 }

    /// The ISO 8601 week (year, number) the day falls in.
    public var isoWeek: (year: Int, week: Int) {
        let thursday = self + Int64(4 - weekday)
        let year = thursday.components.year
        let first = LocalDate(year: year, month: 1, day: 1)!
        return (year, Int((thursday.dayNumber - first.dayNumber) / 7) + 1)
    }

    /// Monday of ISO week `week` of `year`.
    public static func monday(ofISOWeek week: Int, year: Int) -> LocalDate? {
        guard (1...53).contains(week), let january4 = LocalDate(year: year, month: 1, day: 4) else { return nil }
        let monday = january4 + Int64(1 - january4.weekday) + Int64((week - 1) * 7)
        return monday.isoWeek.year == year ? monday : nil
    }

    /// Midnight at the start of this day in the given UTC offset.
    public func start(offsetMinutes: Int) -> Timestamp {
        Timestamp(epochSeconds: dayNumber * 86_400 - Int64(offsetMinutes) * 60, offsetMinutes: offsetMinutes)
    }

    public var description: String {
        let (year, month, day) = components
        return "\(year)-\(month < 10 ? "0" : "")\(month)-\(day < 10 ? "0" : "")\(day)"
    }

    public static func < (lhs: LocalDate, rhs: LocalDate) -> Bool { lhs.dayNumber < rhs.dayNumber }

    public func distance(to other: LocalDate) -> Int64 { other.dayNumber - dayNumber }
    public func advanced(by days: Int64) -> LocalDate { LocalDate(dayNumber: dayNumber + days) }

    public static func + (date: LocalDate, days: Int64) -> LocalDate { date.advanced(by: days) }

    /// The same day `months` months later (earlier when negative), or the
    /// month's last day when it is shorter: 2027-05-31 less 3 months is 2027-02-28.
    public func adding(months: Int) -> LocalDate {
        let (year, month, day) = components
        let first = LocalDate.first(ofMonth: month + months, year: year)
        let (newYear, newMonth, _) = first.components
        return first + Int64(min(day, daysIn(month: newMonth, year: newYear)) - 1)
    }
}

extension Timestamp {
    /// The same place's clock, `seconds` later.
    public func adding(seconds: Int64) -> Timestamp { Timestamp(epochSeconds: epochSeconds + seconds, offsetMinutes: offsetMinutes) }

    /// The calendar day in the timestamp's own offset (where it was recorded).
    public var localDay: LocalDate {
        let local = epochSeconds + Int64(offsetMinutes) * 60
        return LocalDate(dayNumber: local >= 0 ? local / 86_400 : -((-local + 86_399) / 86_400))
    }
}
