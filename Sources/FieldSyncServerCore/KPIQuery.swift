import FieldSyncKPI
import FieldSyncModel
import Foundation

/// What a KPI request asks for: `period`, `by`, `branch`, `manager`, `as_of`
/// (query parameters, all optional), parsed with a message for each bad one.
public struct KPIQuery: Sendable {
    public var period: ReportingPeriod
    public var grouping: KPIGrouping
    public var branch: String?
    public var manager: String?
    public var asOf: Timestamp

    /// The command line's form: `period` may also be a range `2026-11-01..2026-11-15`.
    public init(period: String?, by: String?, branch: String?, manager: String?, asOf: String?, now: Timestamp) throws(ServerError) {
        let asOf = try Self.time(asOf, now: now)
        var parsed: ReportingPeriod?
        if let period {
            do { parsed = try ReportingPeriod(period) } catch {
                throw ServerError.badRequest("period: \(error.description)", text: ErrorText(error.key, error.values))
            }
        }
        try self.init(period: parsed, by: by, branch: branch, manager: manager, asOf: asOf)
    }

    /// The API's form (Protocol/openapi.yaml): `period` names a month, week or
    /// quarter; any other range is `start` with `days` (which win over `period`).
    /// Every value is checked as the spec describes it.
    public init(query value: (String) -> String?, now: Timestamp) throws(ServerError) {
        // A space between date and time would arrive as '+' from a form: only T is taken here.
        if let text = value("as_of"), text.contains(" ") {
            throw ServerError.badRequest("as_of: '\(text.prefix(40))': separate the date and the time with T")
        }
        let asOf = try Self.time(value("as_of"), now: now)
        // Every parameter given is checked, also one that another overrides.
        var named: ReportingPeriod?
        if let text = value("period") {
            do { named = try ReportingPeriod(text) } catch { throw ServerError.badRequest("period: \(error.description)") }
            if named?.kind == .range {
                throw ServerError.badRequest("period: '\(text.prefix(40))': ask for a range with start=YYYY-MM-DD&days=N")
            }
        }
        var days = 1
        if let text = value("days") {
            guard (1...3).contains(text.utf8.count), text.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let number = Int(text),
                  (1...ReportingPeriod.maxDays).contains(Int64(number)) else {
                throw ServerError.badRequest("days: '\(text.prefix(40))' is not a whole number of days from 1 to \(ReportingPeriod.maxDays)")
            }
            days = number
        }
        var period = named
        if let start = value("start") {
            guard let first = LocalDate(iso: start) else { throw ServerError.badRequest("start: '\(start.prefix(40))' is not a date (YYYY-MM-DD)") }
            do { period = try ReportingPeriod(start: first, days: days) } catch { throw ServerError.badRequest(error.description) }
        }
        for name in ["branch", "manager"] {
            if let text = value(name), !(1...Self.maxNameLength).contains(text.unicodeScalars.count) {
                throw ServerError.badRequest("\(name): give 1 to \(Self.maxNameLength) characters")
            }
        }
        try self.init(period: period, by: value("by"), branch: value("branch"), manager: value("manager"), asOf: asOf)
    }

    /// Longest branch or manager name a query may name.
    public static let maxNameLength = 200

    private init(period: ReportingPeriod?, by: String?, branch: String?, manager: String?, asOf: Timestamp) throws(ServerError) {
        self.asOf = asOf
        self.period = period ?? .containing(asOf.localDay, kind: .month)
        if let by {
            guard let grouping = KPIGrouping(rawValue: by) else {
                throw ServerError.badRequest("by: '\(by.prefix(40))' is not one of \(KPIGrouping.allCases.map(\.rawValue).joined(separator: ", "))",
                                             text: ErrorText("admin.bad-grouping", ["value": String(by.prefix(40)), "choices": KPIGrouping.allCases.map(\.rawValue).joined(separator: ", ")]))
            }
            self.grouping = grouping
        } else {
            self.grouping = .manager
        }
        self.branch = branch
        self.manager = manager
    }

    /// `as_of`: an ISO 8601 time (or date) in the supported years; when absent,
    /// now to the minute, so reloads within a minute are the same question.
    private static func time(_ text: String?, now: Timestamp) throws(ServerError) -> Timestamp {
        guard let text else { return Timestamp(epochSeconds: now.epochSeconds - ((now.epochSeconds % 60) + 60) % 60, offsetMinutes: now.offsetMinutes) }
        guard let time = Timestamp(iso: text, defaultOffsetMinutes: now.offsetMinutes) else {
            throw ServerError.badRequest("as_of: '\(text.prefix(40))' is not an ISO 8601 time")
        }
        guard ReportingPeriod.years.contains(time.localDay.components.year) else {
            throw ServerError.badRequest("as_of: '\(text.prefix(40))' is outside the years \(ReportingPeriod.years.lowerBound) to \(ReportingPeriod.years.upperBound)")
        }
        return time
    }

    /// Everything the answer depends on besides the facts and the caller: a cache key.
    public var cacheKey: String {
        [period.description, grouping.rawValue, branch ?? "\u{0}", manager ?? "\u{0}", String(asOf.epochSeconds), String(asOf.offsetMinutes)]
            .joined(separator: "\u{1F}")
    }

    /// Narrows facts already limited to what the caller may see.
    public func select(_ facts: KPIFacts) -> KPIFacts {
        var selected = facts
        if let branch { selected = selected.restricted(toBranch: branch) }
        if let manager { selected = selected.restricted(toResponsible: manager) }
        return selected
    }
}
