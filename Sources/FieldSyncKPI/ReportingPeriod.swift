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
        /// English, for logs and the API.
        public let description: String
        /// The same as a text key (`period.*`) and its values, for a reader of another language.
        public var key: String = "period.invalid"
        public var values: [String: String] = [:]
    }

    /// Years a report may cover: bounds the work of one request, and every date
    /// in them has a four-digit year.
    public static let years = 1970...2199
    /// Longest range a report may cover, in days (a leap year).
    public static let maxDays: Int64 = 366

    /// `2026-11` (month), `2026-W47` (ISO week), `2026-Q4` (quarter), or
    /// `2026-11-01..2026-11-15` (both days included, at most a year).
    public init(_ text: String) throws(ParseError) {
        let invalid = ParseError(description: "'\(text.prefix(40))' is not a period; use a month (2026-11), an ISO week (2026-W47), a quarter (2026-Q4) or a range (2026-11-01..2026-11-15)",
                                 key: "period.invalid", values: ["text": String(text.prefix(40))])
        let outOfRange = ParseError(description: "'\(text.prefix(40))': reports cover the years \(Self.years.lowerBound) to \(Self.years.upperBound)",
                                    key: "period.years", values: ["text": String(text.prefix(40)), "first": String(Self.years.lowerBound), "last": String(Self.years.upperBound)])
        let ends = text.split(separator: ".", omittingEmptySubsequences: false)
        if ends.count == 3, ends[1].isEmpty {
            guard let start = LocalDate(iso: String(ends[0])), let end = LocalDate(iso: String(ends[2])) else { throw invalid }
            guard Self.years.contains(start.components.year), Self.years.contains(end.components.year) else { throw outOfRange }
            guard start <= end else { throw ParseError(description: "'\(text)': the range ends before it starts", key: "period.backwards", values: ["text": text]) }
            guard end.dayNumber - start.dayNumber < Self.maxDays else {
                throw ParseError(description: "'\(text)': a range covers at most \(Self.maxDays) days; ask for one year at a time",
                                 key: "period.too-long", values: ["text": text, "days": String(Self.maxDays)])
            }
            self.init(kind: .range, start: start, end: end)
            return
        }
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        func digits(_ part: Substring) -> Int? {
            guard !part.isEmpty, part.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            return Int(part)
        }
        guard parts.count == 2, parts[0].utf8.count == 4, let year = digits(parts[0]) else { throw invalid }
        guard Self.years.contains(year) else { throw outOfRange }
        let rest = parts[1]
        if rest.first == "W" || rest.first == "w", (2...3).contains(rest.count), let week = digits(rest.dropFirst()) {
            guard let monday = LocalDate.monday(ofISOWeek: week, year: year) else {
                throw ParseError(description: "'\(text)': \(year) has no ISO week \(week)", key: "period.no-week", values: ["text": text, "year": String(year), "week": String(week)])
            }
            self.init(kind: .week, start: monday, end: monday + 6)
        } else if rest.first == "Q" || rest.first == "q", rest.count == 2, let quarter = digits(rest.dropFirst()), (1...4).contains(quarter) {
            self = Self.quarter(year: year, quarter: quarter)
        } else if rest.count == 2, let month = digits(rest), (1...12).contains(month) {
            self = Self.month(year: year, month: month)
        } else {
            throw invalid
        }
    }

    /// `days` days from `start` (1 to `maxDays`), for the API's `start` and `days`.
    public init(start: LocalDate, days: Int) throws(ParseError) {
        guard Self.years.contains(start.components.year) else {
            throw ParseError(description: "start: \(start): reports cover the years \(Self.years.lowerBound) to \(Self.years.upperBound)")
        }
        guard (1...Self.maxDays).contains(Int64(days)) else { throw ParseError(description: "days: \(days) is not 1 to \(Self.maxDays)") }
        self.init(kind: .range, start: start, end: start + Int64(days - 1))
    }

    /// The month `year-month` (`month` in 1...12).
    static func month(year: Int, month: Int) -> ReportingPeriod {
        ReportingPeriod(kind: .month, start: .first(ofMonth: month, year: year), end: .first(ofMonth: month + 1, year: year) + -1)
    }

    static func quarter(year: Int, quarter: Int) -> ReportingPeriod {
        let months = month(year: year, month: quarter * 3 - 2)
        return ReportingPeriod(kind: .quarter, start: months.start, end: month(year: year, month: quarter * 3).end)
    }

    /// The period of the same kind holding `date` (a range becomes its month).
    public static func containing(_ date: LocalDate, kind: Kind) -> ReportingPeriod {
        let (year, month, _) = date.components
        switch kind {
        case .week:
            let monday = date + Int64(1 - date.weekday)
            return ReportingPeriod(kind: .week, start: monday, end: monday + 6)
        case .quarter:
            return quarter(year: year, quarter: (month - 1) / 3 + 1)
        case .month, .range:
            return self.month(year: year, month: month)
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

    /// The period as the API's query parameters: `period=2026-11`, or
    /// `start=2026-11-01&days=15` for a range.
    public var query: String {
        kind == .range ? "start=\(start)&days=\(end.dayNumber - start.dayNumber + 1)" : "period=\(description)"
    }

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
