/// The province's own figures, replicated to every device like the calendar
/// (a province-wide record only the province writes): today the default fault
/// restoration limit, used where neither the fault nor an agreement states one.
public enum ProvinceSettings {
    /// The one settings record's id.
    public static let id = RecordID.derived(from: "settings|province")
}
