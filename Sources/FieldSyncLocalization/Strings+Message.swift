import FieldSyncModel

extension Strings {
    /// A message another module (or a server) named by key, in this language: its values are
    /// shown as text, and those that name something get its term beside them — `table` and
    /// `target` a record kind (`{kind}`, `{target-kind}`), `field`, `earlier` and `later` a field
    /// of it (`{field-name}` …), `state` and `done` a case's state (`{state-name}` …), `role` a role, `reach-key`
    /// the sender's reach (`{reach}`), a `…-time` an instant. A value may itself be a message:
    /// `NAME.key` and `NAME.…` fill `{NAME}` with that message (one level; the plain `NAME` is its
    /// English). A key this version does not know (a newer server's) reads as `english`.
    public func message(_ key: String?, _ values: [String: String], otherwise english: String) -> String {
        // A server's values are bounded where they are read (`ReasonText`); these bounds keep the work here small whatever the caller.
        guard let key, has(key), values.count <= 64 else { return english }
        var filled = values.mapValues { Self.shown($0) }
        for (name, inner) in values where name.hasSuffix(".key") && !name.dropLast(4).contains(".") {
            let prefix = String(name.dropLast(3))
            let innerValues = Dictionary(values.compactMap { entry -> (String, String)? in
                guard entry.key.hasPrefix(prefix), entry.key != name else { return nil }
                return (String(entry.key.dropFirst(prefix.count)), entry.value)
            }, uniquingKeysWith: { first, _ in first })
            let plain = String(prefix.dropLast())
            filled[plain] = message(inner, innerValues.filter { !$0.key.hasSuffix(".key") }, otherwise: filled[plain] ?? "")
        }
        let kind = values["table"].flatMap(RecordKind.init(rawValue:))
        if let kind { filled["kind"] = self.kind(kind) } else if let table = values["table"] { filled["kind"] = Self.shown(table) }
        if let target = values["target"].flatMap(RecordKind.init(rawValue:)) { filled["target-kind"] = self.kind(target) }
        for name in ["field", "earlier", "later"] {
            guard let field = filled[name] else { continue }
            filled["\(name)-name"] = kind.map { self.field(field, of: $0) } ?? field
        }
        for name in ["state", "done"] {
            guard let state = filled[name], let kind else { continue }
            filled["\(name)-name"] = self.state(state, of: kind)
        }
        for (name, value) in values where name.hasSuffix("-time") {
            if let time = Timestamp(iso: value) { filled[name] = self.time(time) }
        }
        if let role = values["role"], has("role.\(role)") { filled["role"] = self("role.\(role)") }
        if let about = values["about"] { filled["about"] = Self.shown(self.about(about)) }
        if let reach = values["reach-key"], reach.hasPrefix("refusal.reach."), has(reach) { filled["reach"] = self(reach, filled) }
        return self(key, filled)
    }

    /// A value as text on a screen: control characters shown as such, at most 1,000 characters (then "…").
    static func shown(_ value: String) -> String {
        Wording.printable(value.count > 1_000 ? String(value.prefix(1_000)) + "…" : value)
    }

    /// What a refused action wrote, as the server keeps it (`RefusedActionRules.about`: "visit 1a2b3c4d
    /// (customer, at, summary)" or "3 records: visit 1a2b3c4d, …"), in this language's terms.
    public func about(_ text: String) -> String {
        func kind(_ noun: Substring) -> RecordKind? { RecordKind.allCases.first { $0.noun == noun } }
        if let match = text.wholeMatch(of: /(?<noun>[a-z ]+) (?<id>[0-9a-f]{1,8}) \((?<fields>[^()]*)\)/), let kind = kind(match.output.noun) {
            let fields = match.output.fields.split(separator: ", ").map { $0 == "…" ? "…" : field(String($0), of: kind) }
            return self("about.record", ["kind": self.kind(kind), "id": String(match.output.id), "fields": fields.joined(separator: self("list.separator"))])
        }
        if let match = text.wholeMatch(of: /(?<n>\d+) records: (?<list>.*)/) {
            let records = match.output.list.split(separator: ", ").map { item -> String in
                guard let space = item.lastIndex(of: " "), let kind = kind(item[..<space]) else { return String(item) }
                return "\(self.kind(kind)) \(item[item.index(after: space)...])"
            }
            return self("about.records", ["n": String(match.output.n), "records": records.joined(separator: self("list.separator"))])
        }
        return Self.shown(text)
    }
}
