/// A customer's `team`: the backup or joint managers who share the file with
/// its `manager`, written as names separated by commas (`Li Wei, Wang Fang`).
public enum Team {
    /// The names in a `team` value, trimmed, empty ones dropped.
    public static func members(_ value: FieldValue) -> [String] {
        guard let text = value.text else { return [] }
        return text.split(separator: ",").map { $0.trimmingWhitespace }.filter { !$0.isEmpty }
    }

    /// The value for these names.
    public static func value(_ names: [String]) -> FieldValue {
        let kept = names.map { Substring($0).trimmingWhitespace }.filter { !$0.isEmpty }
        return kept.isEmpty ? .null : .text(kept.joined(separator: ", "))
    }
}

extension Substring {
    var trimmingWhitespace: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
