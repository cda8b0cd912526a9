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
func count(_ number: Int, _ noun: String) -> String {
    t(number == 1 ? "count.\(noun).one" : "count.\(noun).other", ["n": String(number)])
}

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

/// A library error's text (`StoreError.text`, `RecordValidationError.key`) in this run's language: the
/// values that name a record kind (`table`, `target`), a field of it (`field`, `earlier`, `later`) or a
/// time (`…-time`) are read as their terms, beside the raw values.
func rendered(_ key: String, _ values: [String: String]) -> String {
    var filled = values
    let kind = values["table"].flatMap(RecordKind.init(rawValue:))
    if let kind { filled["kind"] = texts.kind(kind) }
    if let target = values["target"].flatMap(RecordKind.init(rawValue:)) { filled["target-kind"] = texts.kind(target) }
    for name in ["field", "earlier", "later"] {
        guard let field = values[name] else { continue }
        filled["\(name)-name"] = kind.map { texts.field(field, of: $0) } ?? field
    }
    for name in ["state", "done"] {
        guard let state = values[name], let kind else { continue }
        filled["\(name)-name"] = texts.state(state, of: kind)
    }
    for (name, value) in values where name.hasSuffix("-time") {
        if let time = Timestamp(iso: value) { filled[name] = texts.time(time) }
    }
    return t(key, filled)
}

/// A failed sync in this run's language (the server's own message where the client has no words for its code).
func said(_ error: SyncError) -> String { error.key.map { rendered($0, error.values) } ?? error.message }

/// Why a server refused an action, in this run's language when the server sent the reason as a text key
/// this version knows (`Rejection.text`), else its English sentence. The server's values are shown as text.
func said(_ rejection: RejectedMutation) -> String {
    guard let key = rejection.textKey, texts.has(key) else { return Wording.printable(rejection.reason) }
    var values = rejection.textValues.mapValues { Wording.printable(String($0.prefix(200))) }
    if let reach = values["reach-key"], reach.hasPrefix("refusal.reach."), texts.has(reach) { values["reach"] = t(reach, values) }
    return rendered(key, values)
}
