/// Words for the counts a person reads, in every program and page.
public enum Wording {
    /// "1 record", "2 records".
    public static func count(_ number: Int, _ noun: String) -> String { "\(number) \(noun)\(number == 1 ? "" : "s")" }
}
