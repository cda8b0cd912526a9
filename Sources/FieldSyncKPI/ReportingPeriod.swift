import FieldSyncModel

/// The days a report covers: an ISO week, a month, a quarter, or any range.
public struct ReportingPeriod: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case week, month, quarter, range }

    public var kind: Kind
    /// First day.
    public var start: LocalDate
    /// Last day, included.
    public var end: LocalDate

    public init(kind: Kind, start: LocalDate, end: LocalDate) {
        self.kind = kind
        self.start = start
        self.end = end
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    /// `2026-11` (month), `2026-W47` (ISO week), `2026-Q4` (quarter), or
    /// `2026-11-01..2026-11-15` (both days included).
    public init(_ text: String) throws(ParseError) {
        let invalid = ParseError(description: "'\(text)' is not a period; use a month (2026-11), an ISO week (2026-W47), a quarter (2026-Q4) or a range (2026-11-01..2026-11-15)")
        let ends = text.split(separator: ".", omittingEmptySubsequences: false)
        if ends.count == 3, ends[1].isEmpty {
            guard let start = LocalDate(iso: String(ends[0])), let end = LocalDate(iso: String(ends[2])) else { throw invalid }
            guard start <= end else { throw ParseError(description: "'\(text)': the range ends before it starts") }
            self.init(kind: .range, start: start, end: end)
            return
        }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, let year = Int(parts[0]) else { throw invalid }
        let rest = parts[1]
        if rest.first == "W" || rest.first == "w", let week = Int(rest.dropFirst()) {
            guard let monday = LocalDate.monday(ofISOWeek: week, year: year) else {
                throw ParseError(description: "'\(text)': \(year) has no ISO week \(week)")
            }
            self.init(kind: .week, start: monday, end: monday + 6)
        } else if rest.first == "Q" || rest.first == "q", let quarter = Int(rest.dropFirst()), (1...4).contains(quarter) {
            let start = LocalDate(year: year, month: quarter * 3 - 2, day: 1)!
            let next = quarter == 4 ? LocalDate(year: year + 1, month: 1, day: 1)! : LocalDate(year: year, month: quarter * 3 + 1, day: 1)!
            self.init(kind: .quarter, start: start, end: next + -1)
        } else if rest.count == 2, let month = Int(rest), let start = LocalDate(year: year, month: month, day: 1) {
            let next = month == 12 ? LocalDate(year: year + 1, month: 1, day: 1)! : LocalDate(year: year, month: month + 1, day: 1)!
            self.init(kind: .month, start: start, end: next + -1)
        } else {
            throw invalid
        }
    }

    /// The period of the same kind holding `date` (a range becomes its month).
    public static func containing(_ date: LocalDate, kind: Kind) -> ReportingPeriod {
        let (year, month, _) = date.components
        switch kind {
        case .week:
            let monday = date + Int64(1 - date.weekday)
            return ReportingPeriod(kind: .week, start: monday, end: monday + 6)
        case .quarter:
            return try! ReportingPeriod("\(year)-Q\((month - 1) / 3 + 1)")
        case .month, .range:
            return try! ReportingPeriod("\(year)-\(month < 10 ? "0" : "")\(month)")
        }
    }

    /// The `count` periods of the same kind ending with this one, oldest first.
    public func trailing(_ count: Int) -> [ReportingPeriod] {
        var periods = [self]
        while periods.count < count {
            let first = periods[0]
            if kind == .range {
                let length = first.end.dayNumber - first.start.dayNumber + 1
                periods.insert(ReportingPeriod(kind: .range, start: first.start + -length, end: first.start + -1), at: 0)
            } else {
                periods.insert(.containing(first.start + -1, kind: kind), at: 0)
            }
        }
        return periods
    }

    public func contains(_ date: LocalDate) -> Bool { start <= date && date <= end }

    /// How a person names it: `2026-11`, `2026-W47`, `2026-Q4`, `2026-11-01..2026-11-15`.
    public var description: String {
        let (year, month, _) = start.components
        switch kind {
        case .month: return "\(year)-\(month < 10 ? "0" : "")\(month)"
        case .quarter: return "\(year)-Q\((month - 1) / 3 + 1)"
        case .week:
            let (weekYear, week) = start.isoWeek
            return "\(weekYear)-W\(week < 10 ? "0" : "")\(week)"
        case .range: return "\(start)..\(end)"
        }
    }
}
