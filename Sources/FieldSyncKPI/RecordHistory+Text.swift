import FieldSyncLocalization
import FieldSyncModel

extension RecordHistory {
    /// The history as a table a person reads, in `t`'s language: times in `offsetMinutes`, values clipped.
    public func text(offsetMinutes: Int, _ t: Strings) -> String {
        func time(_ milliseconds: UInt64?) -> String {
            guard let milliseconds else { return "" }
            return t.instant(Timestamp(epochSeconds: Int64(clamping: milliseconds / 1_000), offsetMinutes: offsetMinutes))
        }
        /// A value as the reader's language writes it: a time (English keeps ISO 8601, as evidence), a choice, a state.
        func shown(_ entry: Entry) -> String {
            let raw = entry.value.text ?? entry.value.description
            switch self.table.schema.spec(entry.field)?.type {
            case .time?: return Timestamp(iso: raw).map { t.instant($0) } ?? raw
            case .choice?: return t.choice(raw)
            case .status?:
                guard let status = WorkflowStatus(raw, kind: self.table) else { return raw }
                let state = t.state(status.state(for: self.table), of: self.table)
                return status.round > 1 ? t("cli.status-round", ["state": state, "round": String(status.round)]) : state
            default: return raw
            }
        }
        var table = TextTable(["field", "value", "typed", "by", "received", "outcome"].map { t("history.column.\($0)") })
        for entry in entries {
            let who = entry.person.map { person in entry.device.map { t("history.person-device", ["person": person, "device": $0]) } ?? person }
                ?? t("history.node", ["node": entry.node.description])
            let value = entry.value == .null ? t("history.empty-value") : TextTable.clip(Wording.printable(shown(entry)), to: 40)
            let outcome: String
            switch entry.outcome {
            case .current: outcome = t("history.current")
            case .replaced: outcome = t("history.replaced")
            case .lostConflict: outcome = t("history.lost-conflict")
            case .waiting: outcome = t("history.waiting")
            }
            let field = t.has("field.\(self.table.rawValue).\(entry.field)") ? t.field(entry.field, of: self.table) : entry.field
            table.rows.append([field, value, time(entry.hlc.milliseconds), who, time(entry.receivedAt), outcome])
        }
        return t("history.title", ["kind": t.kind(self.table), "id": record]) + "\n" + table.rendered(empty: t("history.none"))
    }
}
