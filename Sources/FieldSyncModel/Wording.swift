/// Words for the counts a person reads, in every program and page.
public enum Wording {
    /// "1 record", "2 records".
    public static func count(_ number: Int, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }
}

extension Wording {
    /// Text another party chose (a server's reason, a device's field name), fit for a terminal:
    /// control characters (escape sequences, line breaks) become spaces.
    public static func printable(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    }

    /// A stored value as a person reads it in a sentence: `(empty)`, `42`, `'text'` (printable, at most 40 characters).
    public static func shown(_ value: FieldValue) -> String {
        switch value {
        case .null: "(empty)"
        case .int(let number): String(number)
        case .text(let text): "'\(printable(String(text.prefix(40))))'"
        }
    }
}
