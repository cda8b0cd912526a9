import FieldSyncCommandLine
import FieldSyncLocalization

/// This run's text for `key` (`CommandLanguage`: `--lang`, else the locale), with its `{name}`s filled.
func t(_ key: String, _ values: [String: String] = [:]) -> String { CommandLanguage.strings(key, values) }

/// This run's texts, for terms, dates and durations.
var texts: Strings { CommandLanguage.strings }

/// "1 record", "3 records" / "1条记录", "3条记录": `count.NOUN.one` and `count.NOUN.other`.
func count(_ number: Int, _ noun: String) -> String {
    t(number == 1 ? "count.\(noun).one" : "count.\(noun).other", ["n": String(number)])
}

/// Table headings by their `column.NAME` keys.
func columns(_ names: String...) -> [String] { names.map { t("column.\($0)") } }
