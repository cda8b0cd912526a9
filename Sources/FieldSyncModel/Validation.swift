/// A value a person or a peer supplied that the record cannot take. The
/// message names the field and what would be accepted.
public struct RecordValidationError: Error, Equatable, Sendable, CustomStringConvertible {
    public let field: String
    /// English, for logs and the wire (a refusal's reason).
    public let message: String
    /// The same message as a text key (`record.*`) and its values, for a program that speaks the
    /// reader's language: `table` names a record kind, `field`, `earlier` and `later` fields of it.
    public let key: String?
    public let values: [String: String]

    public init(field: String, _ message: String, key: String? = nil, _ values: [String: String] = [:]) {
        self.field = field
        self.message = message
        self.key = key
        self.values = values
    }

    public var description: String { message }
}

extension String {
    /// Whether the text holds U+0000, read over its contiguous UTF-8 (the generic
    /// `utf8.contains` walked string indices: a tenth of a push's validation).
    public var containsNUL: Bool {
        var text = self
        return text.withUTF8 { ByteScan.containsZero($0) }
    }
}

extension RecordSchema {
    /// Checks one value against its field's type. Does not check references
    /// (that needs the store) nor cross-field rules (`check(record:)`).
    public func check(field name: String, value: FieldValue) throws(RecordValidationError) {
        func values(_ field: String, _ more: [String: String] = [:]) -> [String: String] {
            more.merging(["table": kind.rawValue, "field": field]) { own, _ in own }
        }
        guard let spec = spec(name) else {
            throw RecordValidationError(field: name, "\(kind.noun) has no field '\(name)'; fields: \(fields.map(\.name).joined(separator: ", "))",
                                        key: "record.no-such-field", ["table": kind.rawValue, "name": name, "fields": fields.map(\.name).joined(separator: ", ")])
        }
        if value == .null {
            if spec.required { throw RecordValidationError(field: name, "\(name) is required for a \(kind.noun)", key: "record.required", values(name)) }
            return
        }
        if let text = value.text {
            guard text.utf8.count <= RecordLimits.maxTextLength || text.unicodeScalars.count <= RecordLimits.maxTextLength else {
                throw RecordValidationError(field: name, "\(name) is \(text.unicodeScalars.count) characters long; at most \(RecordLimits.maxTextLength) are kept",
                                            key: "record.too-long", values(name, ["length": String(text.unicodeScalars.count), "most": String(RecordLimits.maxTextLength)]))
            }
            guard !text.containsNUL else { throw RecordValidationError(field: name, "\(name) contains a NUL character", key: "record.nul", values(name)) }
        }
        switch spec.type {
        case .any:
            return
        case .text:
            guard let text = value.text else { throw RecordValidationError(field: name, "\(name) must be text", key: "record.not-text", values(name)) }
            if spec.required, text.allSatisfy(\.isWhitespace) {
                throw RecordValidationError(field: name, "\(name) must not be empty", key: "record.empty", values(name))
            }
        case .reference(let kind):
            guard let text = value.text, RecordID.isValid(text) else {
                throw RecordValidationError(field: name, "\(name): '\(value.description.prefix(40))' is not a \(kind.noun) id (36 characters, lowercase hex in groups 8-4-4-4-12)",
                                            key: "record.not-an-id", values(name, ["value": String(value.description.prefix(40)), "target": kind.rawValue]))
            }
        case .int:
            guard value.int != nil else { throw RecordValidationError(field: name, "\(name) must be a whole number", key: "record.not-a-number", values(name)) }
        case .hours:
            guard let hours = value.int, (1...8_760).contains(hours) else {
                throw RecordValidationError(field: name, "\(name): '\(value)' is not a number of hours from 1 to 8760",
                                            key: "record.not-hours", values(name, ["value": value.description]))
            }
        case .bool:
            guard let flag = value.int, flag == 0 || flag == 1 else {
                throw RecordValidationError(field: name, "\(name) must be 0 or 1", key: "record.not-a-flag", values(name))
            }
        case .time:
            guard let text = value.text, Timestamp(iso: text) != nil else {
                throw RecordValidationError(field: name, "\(name): '\(value)' is not a time; use ISO 8601 like 2026-11-23T09:30:00+08:00, or now",
                                            key: "record.not-a-time", values(name, ["value": value.description]))
            }
        case .date:
            guard let text = value.text, Timestamp.isValidDate(text) else {
                throw RecordValidationError(field: name, "\(name): '\(value)' is not a date; use YYYY-MM-DD", key: "record.not-a-date", values(name, ["value": value.description]))
            }
        case .choice(let allowed):
            guard let text = value.text, allowed.contains(text) else {
                throw RecordValidationError(field: name, "\(name): '\(value)' is not allowed; use one of: \(allowed.joined(separator: ", "))",
                                            key: "record.not-allowed", values(name, ["value": value.description, "allowed": allowed.joined(separator: ", ")]))
            }
        case .status:
            guard let text = value.text, WorkflowStatus(text, kind: kind) != nil else {
                let states = WorkflowStatus.states(for: kind).joined(separator: ", ")
                throw RecordValidationError(field: name, "status: '\(value)' is not a status; use ROUND:STATE with STATE one of: \(states)",
                                            key: "record.not-a-status", values(name, ["value": value.description, "states": states]))
            }
        }
    }

    /// Checks a whole record as it would stand after a write: every value has
    /// its type, required fields are set, and times are in order (a fault
    /// cannot be restored before it occurred).
    public func check(record values: [String: FieldValue]) throws(RecordValidationError) {
        for spec in fields {
            try check(field: spec.name, value: values[spec.name] ?? .null)
        }
        for (earlier, later) in timeOrder {
            guard let a = values[earlier]?.text.flatMap({ Timestamp(iso: $0) }),
                  let b = values[later]?.text.flatMap({ Timestamp(iso: $0) })
            else { continue }
            if b.epochSeconds < a.epochSeconds {
                throw RecordValidationError(field: later, "\(later) (\(b)) is before \(earlier) (\(a)); a \(kind.noun)'s \(later.replacingUnderscores) cannot precede its \(earlier.replacingUnderscores)",
                                            key: "record.out-of-order", ["table": kind.rawValue, "later": later, "earlier": earlier,
                                                                         "later-time": b.description, "earlier-time": a.description])
            }
        }
    }
}

extension String {
    var replacingUnderscores: String { String(map { $0 == "_" ? " " : $0 }) }
}
