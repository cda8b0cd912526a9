/// Every kind of record a replica holds. The raw value is the table name used
/// in SQLite and on the wire.
public enum RecordKind: String, CaseIterable, Sendable, Codable, Hashable {
    case customer = "customers"
    case contact = "contacts"
    case agreement = "agreements"
    case visit = "visits"
    case fault = "faults"
    case faultNote = "fault_notes"
    case complaint = "complaints"
    case complaintNote = "complaint_notes"
    case conflict = "conflicts"
    case calendarDay = "calendar_days"
    case branch = "branches"
    case setting = "settings"
    case handover = "handovers"

    /// The kinds whose records name a record of this kind as their parent: derived
    /// from the schemas, so a new kind is found wherever a file's tree is walked.
    public var childKinds: [RecordKind] { Self.children[ordinal] }

    private static let children: [[RecordKind]] = allCases.map { parent in
        allCases.filter { $0.parentKind == parent }
    }

    /// The kind of the record this kind's records hang from (their required reference), if any.
    public var parentKind: RecordKind? {
        guard case .reference(let kind)? = schema.parentField?.type else { return nil }
        return kind
    }

    /// Records of the whole province, outside any customer's file: every device
    /// receives them, only the province (or the server itself) writes them.
    public var isProvinceWide: Bool { self == .calendarDay || self == .branch || self == .setting }

    public var schema: RecordSchema { RecordSchema.inKindOrder[ordinal] }

    /// Position in `allCases`: the hot paths look schemas up per change, without hashing.
    var ordinal: Int {
        switch self {
        case .customer: 0
        case .contact: 1
        case .agreement: 2
        case .visit: 3
        case .fault: 4
        case .faultNote: 5
        case .complaint: 6
        case .complaintNote: 7
        case .conflict: 8
        case .calendarDay: 9
        case .branch: 10
        case .setting: 11
        case .handover: 12
        }
    }

    /// The word a person reads in messages: "customer", "fault note".
    public var noun: String {
        switch self {
        case .customer: "customer"
        case .contact: "contact"
        case .agreement: "service agreement"
        case .visit: "visit"
        case .fault: "fault"
        case .faultNote: "fault note"
        case .complaint: "complaint"
        case .complaintNote: "complaint note"
        case .conflict: "conflict"
        case .calendarDay: "calendar day"
        case .branch: "branch"
        case .setting: "province setting"
        case .handover: "handover"
        }
    }
}

public enum FieldType: Sendable, Equatable {
    case text
    case bool
    case int
    /// A whole number of hours, 1 to 8,760 (a year): an agreed time limit.
    case hours
    /// ISO 8601 date-time with offset (see `Timestamp`).
    case time
    /// Calendar date `YYYY-MM-DD`.
    case date
    case choice([String])
    /// A fault's or complaint's workflow position, see `WorkflowStatus`.
    case status
    case reference(RecordKind)
    /// Any scalar (a conflict record's copy of the values that competed).
    case any
}

/// How concurrent values of one field combine. Every rule is a total order on
/// (value, stamp), so merging is commutative, associative and idempotent.
public enum MergeRule: Sendable, Equatable {
    /// Highest (HLC, node) wins; a concurrent overwrite leaves a conflict record.
    case lastWriterWins
    /// The earliest time wins (first feedback: the SLA counts the first one, whoever gave it).
    case earliest
    /// The furthest (round, state) wins: status only moves forward, a reopening outranks the old round.
    case forwardStatus
}

public struct FieldSpec: Sendable, Equatable {
    public let name: String
    public let type: FieldType
    public let rule: MergeRule
    public let required: Bool

    public init(_ name: String, _ type: FieldType, rule: MergeRule = .lastWriterWins, required: Bool = false) {
        self.name = name
        self.type = type
        self.rule = type == .status ? .forwardStatus : rule
        self.required = required
    }
}
