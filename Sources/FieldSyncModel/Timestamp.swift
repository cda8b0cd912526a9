/// A point in time as a person wrote it: an instant plus the UTC offset of the
/// place it was recorded, so `2026-11-23T09:30:00+08:00` reads back exactly as
/// typed while still comparing as an instant.
///
/// Parsing and formatting are done by hand: they sit on the merge hot path
/// (earliest-wins fields) and must not depend on the process's locale or zone.
public struct Timestamp: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Seconds since 1970-01-01T00:00:00Z.
    public var epochSeconds: Int64
    /// Offset from UTC in minutes, e.g. 480 for +08:00.
    public var offsetMinutes: Int

    public init(epochSeconds: Int64, offsetMinutes: Int) {
        self.epochSeconds = epochSeconds
        self.offsetMinutes = offsetMinutes
    }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        (lhs.epochSeconds, lhs.offsetMinutes) < (rhs.epochSeconds, rhs.offsetMinutes)
    }

    /// The canonical text form, `YYYY-MM-DDTHH:MM:SS±HH:MM`.
    public var description: String {
        let local = epochSeconds + Int64(offsetMinutes) * 60
        let days = floorDiv(local, 86_400)
        let secondOfDay = Int(local - days * 86_400)
        let (year, month, day) = civil(fromDays: days)
        let sign = offsetMinutes < 0 ? "-" : "+"
        let offset = abs(offsetMinutes)
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))\(sign)\(pad(offset / 60, 2)):\(pad(offset % 60, 2))"
    }

    /// The calendar date in the timestamp's own offset, `YYYY-MM-DD`.
    public var localDate: String { String(description.prefix(10)) }

    /// Parses ISO 8601 date-times: `2026-11-23T09:30:00+08:00`, `…Z`, with or
    /// without seconds and fractions, `T` or a space between date and time.
    /// A time without an offset takes `defaultOffsetMinutes`; a date alone is midnight.
    public init?(iso text: String, defaultOffsetMinutes: Int = 0) {
        var text = text
        guard let parsed = text.withUTF8({ Timestamp(utf8: $0, defaultOffsetMinutes: defaultOffsetMinutes) }) else { return nil }
        self = parsed
    }

    /// The same from UTF-8 bytes, without making a String: the KPI facts of a
    /// province read a few million times straight from SQLite's column text.
    public init?(utf8 bytes: UnsafeBufferPointer<UInt8>, defaultOffsetMinutes: Int = 0) {
        var scanner = DigitScanner(bytes)
        guard let year = scanner.number(digits: 4), scanner.skip(UInt8(ascii: "-")),
              let month = scanner.number(digits: 2), scanner.skip(UInt8(ascii: "-")),
              let day = scanner.number(digits: 2),
              (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day)
        else { return nil }
        var hour = 0, minute = 0, second = 0
        var offset = defaultOffsetMinutes
        if !scanner.atEnd {
            guard scanner.skip(UInt8(ascii: "T")) || scanner.skip(UInt8(ascii: "t")) || scanner.skip(UInt8(ascii: " ")),
                  let h = scanner.number(digits: 2), scanner.skip(UInt8(ascii: ":")),
                  let m = scanner.number(digits: 2), h < 24, m < 60
            else { return nil }
            hour = h; minute = m
            if scanner.skip(UInt8(ascii: ":")) {
                guard let s = scanner.number(digits: 2), s < 60 else { return nil }
                second = s
                if scanner.skip(UInt8(ascii: ".")) || scanner.skip(UInt8(ascii: ",")) {
                    guard scanner.skipDigits() else { return nil }
                }
            }
            if scanner.skip(UInt8(ascii: "Z")) || scanner.skip(UInt8(ascii: "z")) {
                offset = 0
            } else if let sign = scanner.sign() {
                guard let oh = scanner.number(digits: 2) else { return nil }
                _ = scanner.skip(UInt8(ascii: ":"))
                guard let om = scanner.number(digits: 2), oh <= 14, om < 60 else { return nil }
                offset = sign * (oh * 60 + om)
            }
            guard scanner.atEnd else { return nil }
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        let local = days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        self.init(epochSeconds: local - Int64(offset) * 60, offsetMinutes: offset)
    }

    /// Parses a calendar date `YYYY-MM-DD` strictly (no time part).
    public static func isValidDate(_ text: String) -> Bool {
        text.utf8.count == 10 && Timestamp(iso: text) != nil
    }
}

private struct DigitScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var atEnd: Bool { index == bytes.count }

    mutating func number(digits: Int) -> Int? {
        guard index + digits <= bytes.count else { return nil }
        var value = 0
        for position in index..<index + digits {
            let byte = bytes[position]
            guard byte >= 48, byte <= 57 else { return nil }
            value = value * 10 + Int(byte - 48)
        }
        index += digits
        return value
    }

    mutating func skip(_ ascii: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == ascii else { return false }
        index += 1
        return true
    }

    mutating func skipDigits() -> Bool {
        let start = index
        while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 { index += 1 }
        return index > start
    }

    mutating func sign() -> Int? {
        if skip(UInt8(ascii: "+")) { return 1 }
        if skip(UInt8(ascii: "-")) { return -1 }
        return nil
    }
}

private func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

private func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    a >= 0 ? a / b : -((-a + b - 1) / b)
}

func isLeap(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }

func daysIn(month: Int, year: Int) -> Int {
    switch month {
    case 2: return isLeap(year) ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
    let y = Int64(month <= 2 ? year - 1 : year)
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let m = Int64(month)
    let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = Int(doy - (153 * mp + 2) / 5 + 1)
    let month = Int(mp < 10 ? mp + 3 : mp - 9)
    let year = Int(yoe + era * 400) + (month <= 2 ? 1 : 0)
    return (year, month, day)
}
