import FieldSyncModel

/// One language's user-facing texts, looked up by key: `strings("report.late-by", ["duration": "5 min"])`.
///
/// The texts live in `Resources/<language>.lproj/Localizable.strings` (Foundation's
/// format, loaded by `Strings.load`); a value is a pure lookup, so the KPI engine and
/// the documents stay free of I/O and take the strings they print in. Placeholders are
/// named, `{count}`, not printf's `%lld`: a translation may reorder them, and a text
/// with a placeholder its caller does not fill shows it rather than reading memory.
/// `LocalizationTests` fail when a key lacks either language, when the two
/// languages' placeholders differ, or when the code uses a key neither has.
public struct Strings: Sendable {
    public let language: Language
    let table: [String: String]

    public init(language: Language, table: [String: String]) {
        self.language = language
        self.table = table
    }

    /// The text of `key` with each `{name}` replaced by `values[name]`; the key itself
    /// when the table lacks it (a test keeps that from shipping).
    public func callAsFunction(_ key: String, _ values: [String: String] = [:]) -> String {
        let text = table[key] ?? key
        guard !values.isEmpty, text.contains("{") else { return text }
        return Self.fill(text, values)
    }

    public func has(_ key: String) -> Bool { table[key] != nil }

    /// Every key, for the tests that compare the languages.
    public var keys: Set<String> { Set(table.keys) }

    public func text(of key: String) -> String? { table[key] }

    static func fill(_ text: String, _ values: [String: String]) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}") else { return out + rest[open...] }
            let name = String(rest[rest.index(after: open)..<close])
            if let value = values[name] { out += value } else { out += rest[open...close] }
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// The `{name}` placeholders of a text.
    public static func placeholders(in text: String) -> Set<String> {
        var names: Set<String> = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            names.insert(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return names
    }
}

// MARK: - The glossary's terms (Protocol/GLOSSARY.md)

extension Strings {
    /// "1 record", "3 records" / "1条记录": `count.NOUN.one` and `count.NOUN.other`.
    public func count(_ number: Int, _ noun: String) -> String {
        self(number == 1 ? "count.\(noun).one" : "count.\(noun).other", ["n": String(number)])
    }

    /// "fault report" / "故障申告".
    public func kind(_ kind: RecordKind) -> String { self("kind.\(kind.rawValue)") }

    /// A field's name on screen: "symptom" / "故障现象".
    public func field(_ name: String, of kind: RecordKind) -> String {
        let key = "field.\(kind.rawValue).\(name)"
        return has(key) ? self(key) : name
    }

    /// A choice a person picks (`vip`, `routine`, `in-person`), or the value itself if it is none.
    public func choice(_ value: String) -> String {
        let key = "choice.\(value)"
        return has(key) ? self(key) : value
    }

    /// A fault's or complaint's state word (`restored`, `in-progress`).
    public func state(_ state: String, of kind: RecordKind) -> String {
        let key = "state.\(kind.rawValue).\(state)"
        return has(key) ? self(key) : state
    }
}

// MARK: - Dates, times and durations as a reader of the language expects

extension Strings {
    /// 2026年11月23日 / 2026-11-23.
    public func date(_ date: LocalDate) -> String {
        let (year, month, day) = date.components
        return self("format.date", ["year": String(year), "month": String(month), "day": String(day),
                                    "mm": Self.twoDigits(month), "dd": Self.twoDigits(day)])
    }

    /// 2026年11月23日（星期一） / Mon 2026-11-23: where the day of the week helps (a meeting, a deadline).
    public func dateWithWeekday(_ date: LocalDate) -> String {
        self("format.date-weekday", ["date": self.date(date), "weekday": weekday(date)])
    }

    /// 星期一 / Mon.
    public func weekday(_ date: LocalDate) -> String { self("weekday.\(date.weekday)") }

    /// 2026年11月23日 09:30 / 2026-11-23 09:30, in the time's own offset (the record's zone).
    public func time(_ time: Timestamp) -> String {
        let local = time.description
        let clock = String(local.dropFirst(11).prefix(5))
        return self("format.time", ["date": date(time.localDay), "clock": clock])
    }

    /// `time(_:)`, or a dash for none.
    public func time(_ value: Timestamp?) -> String { value.map { time($0) } ?? "—" }

    /// "2 d 3 h", "45 min" / "2天3小时", "45分钟".
    public func duration(seconds: Int64) -> String {
        let minutes = max(0, seconds) / 60
        if minutes < 60 { return self("format.minutes", ["m": String(minutes)]) }
        let hours = minutes / 60
        if hours < 48 { return self("format.hours-minutes", ["h": String(hours), "m": String(minutes % 60)]) }
        return self("format.days-hours", ["d": String(hours / 24), "h": String(hours % 24)])
    }

    static func twoDigits(_ number: Int) -> String { number < 10 ? "0\(number)" : String(number) }
}

extension Strings {
    /// An exact instant in evidence tables: the ISO 8601 text in English (what the API says), 2026年11月23日 09:30 in Chinese.
    public func instant(_ time: Timestamp) -> String {
        let local = time.description
        return self("format.instant", ["iso": local, "date": date(time.localDay), "clock": String(local.dropFirst(11).prefix(5))])
    }
}
