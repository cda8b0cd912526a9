import FieldSyncCommandLine
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncServerCore
import Foundation

/// This run's text for `key` (`--lang`, else the locale), with its `{name}`s filled.
func t(_ key: String, _ values: [String: String] = [:]) -> String { CommandLanguage.strings(key, values) }

/// "1 device", "3 devices" / "1台设备": `count.NOUN.one` and `count.NOUN.other`.
func count(_ number: Int, _ noun: String) -> String { CommandLanguage.strings.count(number, noun) }

/// An administration error's text in this run's language (`Strings.message`).
func rendered(_ text: ErrorText) -> String { CommandLanguage.strings.message(text.key, text.values, otherwise: text.key) }

/// A server time (milliseconds) as this run's language writes a time, in this machine's zone.
func shownTime(milliseconds: UInt64?) -> String {
    guard let milliseconds else { return t("srv.never") }
    let time = Timestamp(epochSeconds: Int64(clamping: milliseconds / 1000), offsetMinutes: TimeZone.current.secondsFromGMT() / 60)
    return CommandLanguage.strings.time(time)
}

/// A certificate's expiry as this run's language writes a time.
func shownTime(_ date: Date) -> String {
    let milliseconds = date.timeIntervalSince1970 * 1000
    // A certificate's date, read from a file: clamped, never a trapping conversion.
    return shownTime(milliseconds: milliseconds.isFinite ? UInt64(min(max(0, milliseconds), 4e18)) : 0)
}
