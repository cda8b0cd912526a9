/// The fields of one record kind, in storage order.
/// A class, not a struct: the hot paths fetch a schema per change and record, and
/// copying a struct retained each of its arrays every time.
public final class RecordSchema: Sendable {
    public let kind: RecordKind
    public let fields: [FieldSpec]
    /// Pairs of time fields where the first may not be later than the second.
    public let timeOrder: [(earlier: String, later: String)]
    private let positions: [String: Int]

    init(_ kind: RecordKind, _ fields: [FieldSpec], timeOrder: [(String, String)] = []) {
        self.kind = kind
        self.fields = fields
        self.timeOrder = timeOrder.map { (earlier: $0.0, later: $0.1) }
        var positions: [String: Int] = [:]
        for (index, field) in fields.enumerated() { positions[field.name] = index }
        self.positions = positions
        parentField = fields.first { if case .reference = $0.type { return $0.required } else { return false } }
    }

    public func index(of field: String) -> Int? { positions[field] }

    /// `index(of:)`, trying `hint` first: a record's changes mostly come in
    /// schema order, and comparing one name is cheaper than hashing it.
    @inlinable
    public func index(of field: String, hint: Int) -> Int? {
        if hint < fields.count, fields[hint].name == field { return hint }
        return index(of: field)
    }

    public func spec(_ field: String) -> FieldSpec? { positions[field].map { fields[$0] } }

    /// The field naming the record this one belongs to (a contact's customer, a note's fault).
    public let parentField: FieldSpec?

    public static let serviceLevels = ServiceLevel.allCases.map(\.rawValue)
    public static let visitKinds = VisitKind.allCases.map(\.rawValue)
    public static let complaintChannels = ComplaintChannel.allCases.map(\.rawValue)
    public static let dispatchStates = DispatchState.allCases.map(\.rawValue)
    public static let calendarDayKinds = ["holiday", "workday"]
    /// The languages a customer's documents can be in (`FieldSyncLocalization.Language`'s raw values).
    public static let documentLanguages = ["en", "zh-Hans"]

    /// `all` as an array in `RecordKind.allCases` order, indexed by `RecordKind.ordinal`.
    static let inKindOrder: [RecordSchema] = RecordKind.allCases.map { all[$0]! }

    public static let all: [RecordKind: RecordSchema] = {
        let schemas = [
            RecordSchema(.customer, [
                FieldSpec("name", .text, required: true),
                FieldSpec("branch", .text),
                FieldSpec("level", .choice(serviceLevels), required: true),
                FieldSpec("manager", .text),
                FieldSpec("services", .text),
                FieldSpec("notes", .text),
                FieldSpec("archived", .bool),
                // Backup or joint managers, comma-separated (`Team`): they reach the file as its manager does.
                FieldSpec("team", .text),
                // The day the customer was taken on: weekly visit coverage counts from its week.
                FieldSpec("since", .date),
                // The language of the documents handed to the customer (`en`, `zh-Hans`); unset: the reader's.
                FieldSpec("language", .choice(documentLanguages)),
            ]),
            RecordSchema(.contact, [
                FieldSpec("customer", .reference(.customer), required: true),
                FieldSpec("name", .text, required: true),
                FieldSpec("role", .text),
                FieldSpec("phone", .text),
                FieldSpec("email", .text),
                FieldSpec("billing", .bool),
                FieldSpec("removed", .bool),
            ]),
            RecordSchema(.agreement, [
                FieldSpec("customer", .reference(.customer), required: true),
                FieldSpec("number", .text, required: true),
                FieldSpec("starts", .date),
                FieldSpec("ends", .date),
                FieldSpec("removed", .bool),
                // The fault restoration limit agreed in it (故障处理时限), hours from the report.
                FieldSpec("restore_hours", .hours),
                // The expiry notice handed over (服务到期通知, due 3 months before the end, §2.3.3).
                FieldSpec("renewal_notice_at", .date),
                // The agreement was signed again for a new term (due 1 month before the end).
                FieldSpec("renewed_at", .date),
                // The customer's termination notice (终止使用通知单, due 1 month before the end).
                FieldSpec("termination_notice_at", .date),
            ], timeOrder: [("starts", "ends")]),
            RecordSchema(.visit, [
                FieldSpec("customer", .reference(.customer), required: true),
                FieldSpec("manager", .text),
                FieldSpec("at", .time, required: true),
                FieldSpec("kind", .choice(visitKinds), required: true),
                FieldSpec("participants", .text),
                FieldSpec("summary", .text, required: true),
                FieldSpec("requests", .text),
                FieldSpec("actions", .text),
                FieldSpec("complaint", .reference(.complaint)),
                FieldSpec("removed", .bool),
            ]),
            RecordSchema(.fault, [
                FieldSpec("customer", .reference(.customer), required: true),
                FieldSpec("symptom", .text, required: true),
                FieldSpec("scope", .text),
                FieldSpec("occurred_at", .time),
                FieldSpec("reported_at", .time, required: true),
                FieldSpec("owner", .text),
                FieldSpec("dispatch", .choice(dispatchStates)),
                FieldSpec("restore_by", .time),
                FieldSpec("first_feedback_at", .time, rule: .earliest),
                FieldSpec("restored_at", .time),
                FieldSpec("report_delivered_at", .time),
                FieldSpec("status", .status, required: true),
                // The customer's service level when the fault was reported: the
                // time limits in force for it, whatever the customer's level later.
                FieldSpec("level", .choice(serviceLevels)),
                // The hotline or CRM ticket number (响应中心派单号).
                FieldSpec("ticket", .text),
                // The maintenance person dispatched (派单 to 维护人员).
                FieldSpec("dispatched_to", .text),
                // The site affected (站址).
                FieldSpec("site", .text),
            ], timeOrder: [
                ("occurred_at", "reported_at"), ("occurred_at", "restored_at"),
                ("reported_at", "first_feedback_at"), ("occurred_at", "report_delivered_at"), ("restored_at", "report_delivered_at"),
            ]),
            RecordSchema(.faultNote, [
                FieldSpec("fault", .reference(.fault), required: true),
                FieldSpec("at", .time, required: true),
                FieldSpec("author", .text),
                FieldSpec("text", .text, required: true),
            ]),
            RecordSchema(.complaint, [
                FieldSpec("customer", .reference(.customer), required: true),
                FieldSpec("channel", .choice(complaintChannels), required: true),
                FieldSpec("content", .text, required: true),
                FieldSpec("received_at", .time, required: true),
                FieldSpec("owner", .text),
                FieldSpec("first_feedback_at", .time, rule: .earliest),
                FieldSpec("resolved_at", .time),
                FieldSpec("result", .text),
                FieldSpec("escalated_at", .time, rule: .earliest),
                FieldSpec("escalation_reason", .text),
                FieldSpec("closed_at", .time),
                FieldSpec("report", .text),
                FieldSpec("status", .status, required: true),
                FieldSpec("level", .choice(serviceLevels)),
            ], timeOrder: [
                ("received_at", "first_feedback_at"), ("received_at", "resolved_at"),
                ("received_at", "escalated_at"), ("received_at", "closed_at"), ("resolved_at", "closed_at"),
            ]),
            RecordSchema(.complaintNote, [
                FieldSpec("complaint", .reference(.complaint), required: true),
                FieldSpec("at", .time, required: true),
                FieldSpec("author", .text),
                FieldSpec("text", .text, required: true),
            ]),
            RecordSchema(.conflict, [
                FieldSpec("table", .text, required: true),
                FieldSpec("record", .text, required: true),
                FieldSpec("field", .text, required: true),
                FieldSpec("lost_value", .any),
                FieldSpec("lost_node", .text, required: true),
                FieldSpec("lost_hlc", .int, required: true),
                FieldSpec("kept_value", .any),
                FieldSpec("kept_node", .text),
                FieldSpec("kept_hlc", .int),
                FieldSpec("resolved", .bool),
                FieldSpec("resolution", .text),
            ]),
            // A holiday or a make-up working day (调休); every other Monday to Friday
            // is a working day. Its id is derived from the date, so one date is one record.
            RecordSchema(.calendarDay, [
                FieldSpec("date", .date, required: true),
                FieldSpec("kind", .choice(calendarDayKinds), required: true),
                FieldSpec("name", .text),
                FieldSpec("removed", .bool),
            ]),
            // A city branch the province registered: a customer's and a user's
            // `branch` must name one. Its id is derived from the name.
            RecordSchema(.branch, [
                FieldSpec("name", .text, required: true),
                FieldSpec("removed", .bool),
            ]),
            // What the province sets for every branch (`ProvinceSettings`): one record, id `ProvinceSettings.id`.
            // Restoration: the fault restoration limit where neither the fault nor an agreement in force states one.
            RecordSchema(.setting, [
                FieldSpec("restoration_hours", .hours),
                FieldSpec("restoration_hours_vip", .hours),
            ]),
            // A customer file handed from one manager to another (客户交接), written with the change of
            // `manager` itself (`Replica.write`): the KPIs follow who held the file at each event or week.
            RecordSchema(.handover, [
                FieldSpec("customer", .reference(.customer), required: true),
                FieldSpec("at", .time, required: true),
                FieldSpec("previous", .text),
                FieldSpec("manager", .text),
            ]),
        ]
        return Dictionary(uniqueKeysWithValues: schemas.map { ($0.kind, $0) })
    }()
}
