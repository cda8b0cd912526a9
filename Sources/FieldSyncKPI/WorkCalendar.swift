import FieldSyncModel

/// Working days: Monday to Friday, minus public holidays, plus make-up working
/// days (调休), as the province configures them per year.
public struct WorkCalendar: Sendable, Equatable {
    public var holidays: Set<LocalDate>
    public var makeUpDays: Set<LocalDate>

    public init(holidays: Set<LocalDate> = [], makeUpDays: Set<LocalDate> = []) {
        self.holidays = holidays
        self.makeUpDays = makeUpDays
    }

    public func isWorkingDay(_ date: LocalDate) -> Bool {
        if makeUpDays.contains(date) { return true }
        if holidays.contains(date) { return false }
        return !date.isWeekend
    }

    /// The `count`-th working day after `date` (the day itself not counted).
    public func workingDay(_ count: Int, after date: LocalDate) -> LocalDate {
        var day = date
        var remaining = count
        // A year has far fewer than 366 holidays: the loop is bounded.
        while remaining > 0 {
            day = day + 1
            if isWorkingDay(day) { remaining -= 1 }
        }
        return day
    }

    /// The end of a limit of `count` working days that starts at `event`: midnight
    /// after the `count`-th working day following the event's day, in the
    /// event's own offset. A complaint received on Friday with 3 working days
    /// is due by the end of Wednesday.
    public func deadline(workingDays count: Int, after event: Timestamp) -> Timestamp {
        (workingDay(count, after: event.localDay) + 1).start(offsetMinutes: event.offsetMinutes)
    }
}
