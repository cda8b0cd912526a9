import FieldSyncClient
import FieldSyncCommandLine
import FieldSyncKPI
import FieldSyncModel
import FieldSyncStore
import FieldSyncLocalization

/// This run's text for `key` (`CommandLanguage`: `--lang`, else the locale), with its `{name}`s filled.
func t(_ key: String, _ values: [String: String] = [:]) -> String { CommandLanguage.strings(key, values) }

/// This run's texts, for terms, dates and durations.
var texts: Strings { CommandLanguage.strings }

/// "1 record", "3 records" / "1条记录", "3条记录": `count.NOUN.one` and `count.NOUN.other`.
func count(_ number: Int, _ noun: String) -> String { texts.count(number, noun) }

/// Table headings by their `column.NAME` keys.
func columns(_ names: String...) -> [String] { names.map { t("column.\($0)") } }

/// The handbook's time limits by name, for the help texts that quote them (`{fault-feedback-minutes}` …).
let limitValues: [String: String] = [
    "fault-feedback-minutes": String(ServiceLimits.faultFeedbackMinutes(vip: false)),
    "fault-feedback-minutes-vip": String(ServiceLimits.faultFeedbackMinutes(vip: true)),
    "fault-restoration-hours": String(ServiceLimits.faultRestorationHours(vip: false)),
    "fault-restoration-hours-vip": String(ServiceLimits.faultRestorationHours(vip: true)),
    "complaint-feedback-hours": String(ServiceLimits.complaintFeedbackHours(vip: false)),
    "complaint-feedback-hours-vip": String(ServiceLimits.complaintFeedbackHours(vip: true)),
    "complaint-resolution-days": String(ServiceLimits.complaintResolutionWorkingDays),
    "follow-up-days": String(ServiceLimits.followUpVisitWorkingDays),
    "notice-months": String(ServiceLimits.renewalNoticeMonths),
    "renewal-months": String(ServiceLimits.renewalMonths),
    "tolerance-minutes": String(ServiceLimits.recordingToleranceMinutes),
]

/// A library error's text (`StoreError.text`, `RecordValidationError.key`) in this run's language
/// (`Strings.message` names the kinds, fields, states and times its values name).
func rendered(_ key: String, _ values: [String: String]) -> String { texts.message(key, values, otherwise: key) }

/// A failed sync in this run's language (the server's own message where the client has no words for its code).
func said(_ error: SyncError) -> String { error.key.map { rendered($0, error.values) } ?? error.message }

/// Why a server refused an action, in this run's language when the server sent the reason as a text key
/// this version knows (`Rejection.text`), else its English sentence. The server's values are shown as text.
func said(_ rejection: RejectedMutation) -> String {
    texts.message(rejection.textKey, rejection.textValues, otherwise: Wording.printable(rejection.reason))
}

/// A supervisor's decision as the replica keeps it (`OutboxDecision.text`: "Sue (supervisor) on
/// 2026-12-08T10:00:00+08:00: the date is wrong"), in this run's words: the role named as the
/// glossary says, the time as dates are read. A text not of that form is shown as it is.
func decided(_ text: String) -> String {
    guard let match = text.wholeMatch(of: /(?<by>.+?) on (?<at>\d{4}-\d\d-\d\dT\S+): (?<note>.*)/.dotMatchesNewlines()) else { return Wording.printable(text) }
    return decided(by: String(match.output.by), at: String(match.output.at), note: String(match.output.note))
}

func decided(by: String, at: String, note: String) -> String {
    var who = Wording.printable(by)
    if let role = by.wholeMatch(of: /(?<name>.+) \((?<role>[a-z]+)\)/), texts.has("role.\(role.output.role)") {
        who = t("cli.decision.by-role", ["name": Wording.printable(String(role.output.name)), "role": t("role.\(role.output.role)")])
    }
    let time = Timestamp(iso: at).map { texts.time($0) } ?? Wording.printable(at)
    return t("cli.decision", ["by": who, "at": time, "note": Wording.printable(note)])
}
