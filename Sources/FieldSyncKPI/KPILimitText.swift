import FieldSyncLocalization
import FieldSyncModel

/// A KPI limit in the reader's language. The engine words a limit in English
/// (`KPIMiss.limit`, also in the API's JSON, which never changes with the language)
/// from a small grammar; this reads those forms back and words them again from the
/// tables. A form it does not know is shown as it is.
public enum KPILimitText {
    public static func localized(_ limit: String, _ t: Strings) -> String {
        guard let (key, values) = parse(limit) else { return limit }
        var filled = values
        if let time = values["time"].flatMap({ Timestamp(iso: $0) }) { filled["time"] = t.time(time) }
        for name in ["due", "ends"] { if let date = values[name].flatMap({ LocalDate(iso: $0) }) { filled[name] = t.date(date) } }
        if let source = values["source"] { filled["source"] = t(source == "province default" ? "limit.source.province" : "limit.source.fieldsync") }
        return t(key, filled)
    }

    /// The forms `KPIEngine` writes, as a key of the tables and the values it fills in.
    static func parse(_ limit: String) -> (String, [String: String])? {
        let words = limit.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        func number(_ text: String) -> Bool { !text.isEmpty && text.utf8.count <= 6 && text.allSatisfy(\.isASCII) && text.allSatisfy(\.isNumber) }
        switch words.count {
        case 2 where words[0] == "agreed": return ("limit.agreed", ["time": words[1]])
        case 2 where words[0] == "week":
            let parts = words[1].split(separator: "-")
            guard parts.count == 2, number(String(parts[0])), parts[1].hasPrefix("W"), let week = Int(parts[1].dropFirst()) else { return nil }
            return ("limit.week", ["year": String(parts[0]), "ww": String(parts[1].dropFirst()), "w": String(week)])
        case 2 where number(words[0]) && words[1] == "min": return ("limit.minutes", ["n": words[0]])
        case 2 where number(words[0]) && words[1] == "h": return ("limit.hours", ["n": words[0]])
        case 3 where number(words[0]) && words[1] == "min" && words[2] == "(VIP)": return ("limit.minutes-vip", ["n": words[0]])
        case 3 where number(words[0]) && words[1] == "h" && words[2] == "(VIP)": return ("limit.hours-vip", ["n": words[0]])
        case 3 where number(words[0]) && words[1] == "working" && words[2] == "days": return ("limit.working-days", ["n": words[0]])
        case 5 where number(words[0]) && words[1...] == ["working", "days", "after", "resolution"]:
            return ("limit.working-days-after-resolution", ["n": words[0]])
        default: break
        }
        // "4 h (agreement HZ-7)": the number may hold spaces.
        if words.count >= 4, number(words[0]), words[1] == "h", words[2] == "(agreement", limit.hasSuffix(")") {
            let prefix = "\(words[0]) h (agreement "
            return ("limit.agreement", ["n": words[0], "number": String(limit.dropFirst(prefix.count).dropLast())])
        }
        // "8 h FieldSync default", "4 h (VIP) province default".
        for source in ["province default", "FieldSync default"] where limit.hasSuffix(" " + source) && number(words[0]) && words[1] == "h" {
            let middle = limit.dropFirst(words[0].count + 3).dropLast(source.count + 1)
            if middle.isEmpty { return ("limit.default", ["n": words[0], "source": source]) }
            if middle == "(VIP)" { return ("limit.default-vip", ["n": words[0], "source": source]) }
        }
        // "due 2026-11-28 (HZ-7 ends 2027-02-28)".
        if words.count >= 5, words[0] == "due", words[1].utf8.count == 10, words[2].hasPrefix("("), words[words.count - 2] == "ends", limit.hasSuffix(")") {
            let number = words[2..<(words.count - 2)].joined(separator: " ").dropFirst()
            return ("limit.renewal", ["due": words[1], "number": String(number), "ends": String(words[words.count - 1].dropLast())])
        }
        return nil
    }
}
