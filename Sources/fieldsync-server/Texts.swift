import FieldSyncCommandLine
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncServerCore

/// This run's text for `key` (`--lang`, else the locale), with its `{name}`s filled.
func t(_ key: String, _ values: [String: String] = [:]) -> String { CommandLanguage.strings(key, values) }

/// "1 device", "3 devices" / "1台设备": `count.NOUN.one` and `count.NOUN.other`.
func count(_ number: Int, _ noun: String) -> String {
    t(number == 1 ? "count.\(noun).one" : "count.\(noun).other", ["n": String(number)])
}

/// An administration error's text in this run's language (`Strings.message`).
func rendered(_ text: ErrorText) -> String { CommandLanguage.strings.message(text.key, text.values, otherwise: text.key) }
