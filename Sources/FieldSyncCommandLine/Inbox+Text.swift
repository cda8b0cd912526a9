import FieldSyncLocalization
import FieldSyncModel
import FieldSyncProtocol

extension Inbox {
    /// The inbox as a person reads it, in `t`'s language: one section per kind, one block per
    /// entry, times in `offsetMinutes`. Not a table: what to type to act is a whole command,
    /// never clipped. An entry's subject, detail and action are in `t`'s language where the server
    /// sent their keys (`Entry.subjectText` …), else the server's words.
    public func text(offsetMinutes: Int, _ t: Strings) -> String {
        guard !entries.isEmpty else { return t("dashboard.inbox-empty") + "\n" }
        var out = ""
        for kind in Kind.allCases {
            let some = entries.filter { $0.kind == kind }
            guard !some.isEmpty else { continue }
            if !out.isEmpty { out += "\n" }
            out += t("dashboard.section-count", ["title": t("inbox.title.\(kind.rawValue)", ["days": String(Inbox.silentAfter / 86_400_000)]),
                                                 "count": String(some.count)]) + "\n"
            for entry in some {
                let since = entry.since.map { t.instant(Timestamp(epochSeconds: Int64(clamping: $0 / 1_000), offsetMinutes: offsetMinutes)) }
                let who = entry.person.map { person in entry.device.map { t("history.person-device", ["person": person, "device": $0]) } ?? person }
                let (subject, detail, action) = entry.said(t)
                out += "- " + ([entry.branch, subject, who, since.map { t("inbox.since-time", ["time": $0]) }].compactMap { $0 }.filter { !$0.isEmpty })
                    .joined(separator: " · ") + "\n"
                out += "    \(detail)\n"
                out += "    " + t("inbox.to-act-line", ["action": action]) + "\n"
            }
        }
        return out
    }
}

extension Inbox.Entry {
    /// The subject, detail and action in `t`'s language where the server sent their keys, else as sent.
    /// A text out of `ReasonText`'s bounds (from a server this laptop does not trust that far) reads as sent.
    public func said(_ t: Strings) -> (subject: String, detail: String, action: String) {
        func said(_ text: ReasonText?, _ english: String) -> String {
            guard let text, text.isWithinBounds else { return Wording.printable(english) }
            return t.message(text.key, text.values, otherwise: Wording.printable(english))
        }
        return (said(subjectText, subject), said(detailText, detail), said(actionText, action))
    }
}
