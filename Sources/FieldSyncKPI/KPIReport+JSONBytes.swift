import FieldSyncModel

// The report's JSON written straight into bytes: the same document as its
// `Encodable` form (`KPIReport+Output.swift`), without the intermediate tree
// Foundation's encoder builds, which for a province's month of misses (tens of
// thousands of objects) is ten times the size of the answer.

/// Appends JSON tokens to a byte array.
struct JSONBytes {
    var bytes: [UInt8] = []

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// One escaper for every JSON the project writes by hand (`JSONText`, as the sync messages use).
    mutating func string(_ text: String) {
        JSONText.appendString(text, to: &bytes)
    }

    mutating func optional(_ text: String?) {
        if let text { string(text) } else { raw("null") }
    }

    mutating func number(_ value: some BinaryInteger) { bytes.append(contentsOf: String(value).utf8) }

    mutating func number(_ value: Double?) {
        guard let value, value.isFinite else { return raw("null") }
        bytes.append(contentsOf: String(value).utf8)
    }

    mutating func bool(_ value: Bool) { value ? raw("true") : raw("false") }

    /// `"key":`, after a comma unless it is the object's first key.
    mutating func key(_ name: StaticString, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        raw(name)
        raw("\":")
    }

    mutating func array<T>(_ items: [T], _ write: (inout JSONBytes, T) -> Void) {
        bytes.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            write(&self, item)
        }
        bytes.append(UInt8(ascii: "]"))
    }
}

extension KPIMiss {
    func write(to out: inout JSONBytes) {
        out.raw("{")
        out.key("kpi", first: true); out.string(kpi.rawValue)
        out.key("table"); out.string(table.rawValue)
        out.key("record"); out.string(record)
        out.key("customer"); out.string(customer)
        out.key("customer_name"); out.string(customerName)
        out.key("manager"); out.optional(manager)
        out.key("branch"); out.optional(branch)
        out.key("limit"); out.string(limit)
        out.key("deadline"); out.string(deadline.description)
        out.key("actual"); out.optional(actual?.description)
        out.key("open"); out.bool(isOpen)
        out.key("late_by_seconds"); out.number(lateBySeconds)
        out.key("escalated_at"); out.optional(escalatedAt?.description)
        out.key("recorded_at"); out.optional(recorded?.description)
        out.raw("}")
    }

    /// A list of misses as the API's JSON array.
    public static func jsonBytes(_ misses: [KPIMiss]) -> [UInt8] {
        var out = JSONBytes()
        out.array(misses) { out, miss in miss.write(to: &out) }
        return out.bytes
    }
}

extension KPILateRecord {
    /// The same keys as its `Encodable` form.
    func write(to out: inout JSONBytes) {
        out.raw("{")
        out.key("kpi", first: true); out.string(event.kpi.rawValue)
        out.key("table"); out.string(event.table.rawValue)
        out.key("record"); out.string(event.record)
        out.key("customer"); out.string(event.customer)
        out.key("customer_name"); out.string(event.customerName)
        out.key("manager"); out.optional(event.manager)
        out.key("branch"); out.optional(event.branch)
        out.key("limit"); out.string(event.limit)
        out.key("deadline"); out.string(event.deadline.description)
        out.key("claimed"); out.string(claimed.description)
        out.key("recorded"); out.string(recorded.description)
        out.key("delay_seconds"); out.number(delaySeconds)
        out.key("after_deadline_seconds"); out.number(afterDeadlineSeconds)
        if let received { out.key("received_at"); out.string(received.description) }
        out.raw("}")
    }

    /// A list of them as the API's JSON array.
    public static func jsonBytes(_ records: [KPILateRecord]) -> [UInt8] {
        var out = JSONBytes()
        out.array(records) { out, late in late.write(to: &out) }
        return out.bytes
    }
}

extension KPIFigure {
    func write(to out: inout JSONBytes) {
        out.raw("{")
        out.key("kpi", first: true); out.string(kpi.rawValue)
        out.key("title"); out.string(kpi.title)
        out.key("met"); out.number(met)
        out.key("missed"); out.number(missed)
        out.key("pending"); out.number(pending)
        out.key("total"); out.number(total)
        out.key("rate"); out.number(rate)
        out.raw("}")
    }
}

extension KPIGroup {
    func write(to out: inout JSONBytes) {
        out.raw("{")
        out.key("name", first: true); out.string(name)
        out.key("figures"); out.array(figures) { out, figure in figure.write(to: &out) }
        out.key("open_escalations"); out.number(openEscalations)
        out.key("misses"); out.array(misses) { out, miss in miss.write(to: &out) }
        out.raw("}")
    }
}

extension KPIReport {
    /// The report's JSON object; `extra` (already JSON, starting with a key) goes before its closing brace.
    public func jsonBytes(extra: [UInt8] = []) -> [UInt8] {
        var out = JSONBytes()
        out.raw("{")
        out.key("period", first: true); out.string(period.description)
        out.key("start"); out.string(period.start.description)
        out.key("end"); out.string(period.end.description)
        out.key("grouping"); out.string(grouping.rawValue)
        out.key("as_of"); out.string(asOf.description)
        out.key("groups"); out.array(groups) { out, group in group.write(to: &out) }
        out.key("total"); total.write(to: &out)
        if !extra.isEmpty {
            out.bytes.append(UInt8(ascii: ","))
            out.bytes.append(contentsOf: extra)
        }
        out.raw("}")
        return out.bytes
    }
}
