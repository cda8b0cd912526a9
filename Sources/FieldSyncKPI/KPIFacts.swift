import FieldSyncModel

/// What the KPIs are computed from: the records of a replica, reduced to the
/// fields that matter and with their times parsed. Build it with `add(_:_:_:)`
/// from stored records, or directly in tests.
public struct KPIFacts: Sendable {
    public struct Customer: Sendable, Equatable {
        public var id: String
        public var name: String
        public var branch: String?
        public var manager: String?
        /// Backup or joint managers (`Team`).
        public var team: [String]
        public var level: String
        public var archived: Bool
        /// The day the customer was taken on (its `since` field, else the day
        /// it was first recorded): weeks before it do not count for visit coverage.
        public var since: LocalDate?
        /// The language of the customer's documents (`en`, `zh-Hans`), if set.
        public var language: String?

        public init(id: String, name: String, branch: String?, manager: String?, team: [String] = [], level: String,
                    archived: Bool = false, since: LocalDate? = nil, language: String? = nil) {
            self.language = language
            self.id = id
            self.name = name
            self.branch = branch
            self.manager = manager
            self.team = team
            self.level = level
            self.archived = archived
            self.since = since
        }
    }

    public struct Fault: Sendable, Equatable {
        public var id: String
        public var customer: String
        public var reportedAt: Timestamp
        public var firstFeedbackAt: Timestamp?
        public var restoreBy: Timestamp?
        public var restoredAt: Timestamp?
        /// The customer's level when reported; nil for faults recorded before the field existed.
        public var level: String?
        /// Who took it (首问负责人): the fault's KPIs are theirs.
        public var owner: String?
        /// When the first feedback and the restoration times were typed (their stamps), if known.
        public var firstFeedbackRecorded: Timestamp?
        public var restoredRecorded: Timestamp?

        public init(id: String, customer: String, reportedAt: Timestamp, firstFeedbackAt: Timestamp? = nil,
                    restoreBy: Timestamp? = nil, restoredAt: Timestamp? = nil, level: String? = nil, owner: String? = nil,
                    firstFeedbackRecorded: Timestamp? = nil, restoredRecorded: Timestamp? = nil) {
            self.owner = owner
            self.firstFeedbackRecorded = firstFeedbackRecorded
            self.restoredRecorded = restoredRecorded
            self.id = id
            self.customer = customer
            self.reportedAt = reportedAt
            self.firstFeedbackAt = firstFeedbackAt
            self.restoreBy = restoreBy
            self.restoredAt = restoredAt
            self.level = level
        }
    }

    public struct Complaint: Sendable, Equatable {
        public var id: String
        public var customer: String
        public var receivedAt: Timestamp
        public var firstFeedbackAt: Timestamp?
        public var resolvedAt: Timestamp?
        public var escalatedAt: Timestamp?
        public var closedAt: Timestamp?
        public var level: String?
        /// Who took it (首问负责人): the complaint's KPIs are theirs.
        public var owner: String?
        /// When the first feedback and the resolution times were typed (their stamps), if known.
        public var firstFeedbackRecorded: Timestamp?
        public var resolvedRecorded: Timestamp?

        public init(id: String, customer: String, receivedAt: Timestamp, firstFeedbackAt: Timestamp? = nil, resolvedAt: Timestamp? = nil,
                    escalatedAt: Timestamp? = nil, closedAt: Timestamp? = nil, level: String? = nil, owner: String? = nil,
                    firstFeedbackRecorded: Timestamp? = nil, resolvedRecorded: Timestamp? = nil) {
            self.owner = owner
            self.firstFeedbackRecorded = firstFeedbackRecorded
            self.resolvedRecorded = resolvedRecorded
            self.id = id
            self.customer = customer
            self.receivedAt = receivedAt
            self.firstFeedbackAt = firstFeedbackAt
            self.resolvedAt = resolvedAt
            self.escalatedAt = escalatedAt
            self.closedAt = closedAt
            self.level = level
        }
    }

    /// A visit as the KPIs see it. No id: nothing refers to a visit, and a
    /// province holds close to a million of them.
    public struct Visit: Sendable, Equatable {
        public var customer: String
        public var at: Timestamp
        public var kind: String
        /// The complaint a follow-up visit follows up.
        public var complaint: String?
        /// Who visited: a routine visit counts for them.
        public var manager: String?
        /// When its time was typed (the stamp of `at`), seconds since the epoch: a province holds close
        /// to a million visits, so not a whole `Timestamp` each.
        var recordedSeconds: Int64?
        /// When its time was typed, if known, in the offset of `at`.
        public var recorded: Timestamp? { recordedSeconds.map { Timestamp(epochSeconds: $0, offsetMinutes: at.offsetMinutes) } }

        public init(customer: String, at: Timestamp, kind: String, complaint: String? = nil, manager: String? = nil, recorded: Timestamp? = nil) {
            self.recordedSeconds = recorded?.epochSeconds
            self.customer = customer
            self.at = at
            self.kind = kind
            self.complaint = complaint
            self.manager = manager
        }
    }

    /// A service agreement (单项服务协议) not removed.
    public struct Agreement: Sendable, Equatable {
        public var id: String
        public var customer: String
        public var number: String
        public var starts: LocalDate?
        public var ends: LocalDate?
        /// The fault restoration limit agreed in it, in hours from the report.
        public var restoreHours: Int64?
        public var renewalNoticeAt: LocalDate?
        public var renewedAt: LocalDate?
        public var terminationNoticeAt: LocalDate?
        /// When the notice dates were typed (their stamps), if known.
        public var renewalNoticeRecorded: Timestamp?
        public var renewedRecorded: Timestamp?
        public var terminationNoticeRecorded: Timestamp?

        public init(id: String, customer: String, number: String, starts: LocalDate? = nil, ends: LocalDate? = nil, restoreHours: Int64? = nil,
                    renewalNoticeAt: LocalDate? = nil, renewedAt: LocalDate? = nil, terminationNoticeAt: LocalDate? = nil,
                    renewalNoticeRecorded: Timestamp? = nil, renewedRecorded: Timestamp? = nil, terminationNoticeRecorded: Timestamp? = nil) {
            self.renewalNoticeRecorded = renewalNoticeRecorded
            self.renewedRecorded = renewedRecorded
            self.terminationNoticeRecorded = terminationNoticeRecorded
            self.id = id
            self.customer = customer
            self.number = number
            self.starts = starts
            self.ends = ends
            self.restoreHours = restoreHours
            self.renewalNoticeAt = renewalNoticeAt
            self.renewedAt = renewedAt
            self.terminationNoticeAt = terminationNoticeAt
        }

        /// In force on `day`: an open start or end bounds nothing.
        public func covers(_ day: LocalDate) -> Bool {
            (starts.map { $0 <= day } ?? true) && (ends.map { day <= $0 } ?? true)
        }
    }

    public var customers: [String: Customer] = [:]
    public var faults: [Fault] = []
    public var complaints: [Complaint] = []
    public var visits: [Visit] = []
    public var agreements: [Agreement] = []
    public var calendar = WorkCalendar()
    /// The province's default restoration limits (`ProvinceSettings`), where it set them.
    public var restorationDefault = RestorationDefault()
    /// Each customer's handovers (客户交接), in any order.
    public var handovers: [String: [Handover]] = [:]

    /// A file handed from `previous` to `manager` at `at` (its stamp).
    public struct Handover: Sendable, Equatable {
        public var at: Timestamp
        public var previous: String?
        public var manager: String?
        /// The stamp's clock in milliseconds: the order of handovers within one second.
        public var milliseconds: UInt64

        public init(at: Timestamp, previous: String?, manager: String?, milliseconds: UInt64? = nil) {
            self.at = at
            self.previous = previous
            self.manager = manager
            self.milliseconds = milliseconds ?? UInt64(clamping: at.epochSeconds) * 1_000
        }
    }

    /// Who held `customer`'s file at `time`: the manager the last handover at or before it gave the
    /// file to (after the newest, the customer's manager now: a change made without a handover record,
    /// by an older writer, is not lost); before the first handover, the manager it took the file from;
    /// with no handover, the customer's manager now.
    public func holder(of customer: Customer, at time: Timestamp) -> String? {
        // Most files were never handed over: no lookup for them (this runs for every week of every customer).
        guard !handovers.isEmpty, let handed = handovers[customer.id], !handed.isEmpty else { return customer.manager }
        let ordered = handed.count == 1 ? handed : handed.sorted {
            ($0.milliseconds, $0.manager ?? "", $0.previous ?? "") < ($1.milliseconds, $1.manager ?? "", $1.previous ?? "")
        }
        guard let index = ordered.lastIndex(where: { $0.at.epochSeconds <= time.epochSeconds }) else { return ordered[0].previous ?? customer.manager }
        return index == ordered.count - 1 ? customer.manager : ordered[index].manager
    }
    /// Set by `restricted(toResponsible:)`: only what this person answers for counts.
    public var responsible: String?
    /// Built by `indexed()`; it reflects the visits and agreements at that time.
    public internal(set) var index: KPIIndex?

    public init() {}

    /// Takes in one stored record (values by field name); records the KPIs do
    /// not use, and removed visits and agreements, are ignored. `firstRecorded`
    /// is the record's earliest stamp, for customers without a `since` day.
    public mutating func add(_ kind: RecordKind, _ id: String, _ fields: [String: FieldValue], firstRecorded: Timestamp? = nil) {
        add(kind, id, firstRecorded: firstRecorded) { fields[$0] ?? .null }
    }

    /// The same, reading fields through `field` (a stored record's values, without building a dictionary)
    /// and, through `stamp`, when each field's value was typed (its stamp's clock, milliseconds since the epoch).
    public mutating func add(_ kind: RecordKind, _ id: String, firstRecorded: Timestamp? = nil, field: (String) -> FieldValue,
                             stamp: (String) -> UInt64? = { _ in nil }) {
        func time(_ name: String) -> Timestamp? { field(name).text.flatMap { Timestamp(iso: $0) } }
        /// When `name` was typed, in the offset of the time it gives (`near`).
        func recorded(_ name: String, near: Timestamp?) -> Timestamp? {
            guard let near, let milliseconds = stamp(name) else { return nil }
            return Timestamp.recorded(milliseconds: milliseconds, offsetMinutes: near.offsetMinutes)
        }
        func recorded(_ name: String, day: LocalDate?) -> Timestamp? {
            guard day != nil, let milliseconds = stamp(name) else { return nil }
            return Timestamp.recorded(milliseconds: milliseconds, offsetMinutes: 0)
        }
        func date(_ name: String) -> LocalDate? { field(name).text.flatMap { LocalDate(iso: $0) } }
        func text(_ name: String) -> String? { field(name).text }
        // Records share their customer's id string instead of each holding a copy.
        func customer() -> String? { text("customer").map { customers[$0]?.id ?? $0 } }
        switch kind {
        case .customer:
            customers[id] = Customer(id: id, name: text("name") ?? "", branch: text("branch"), manager: text("manager"), team: Team.members(field("team")),
                                     level: text("level") ?? "standard", archived: field("archived").bool,
                                     since: date("since") ?? firstRecorded?.localDay, language: text("language"))
        case .fault:
            guard let customer = customer(), let reported = time("reported_at") else { return }
            let feedback = time("first_feedback_at"), restored = time("restored_at")
            faults.append(Fault(id: id, customer: customer, reportedAt: reported, firstFeedbackAt: feedback,
                                restoreBy: time("restore_by"), restoredAt: restored, level: text("level"), owner: text("owner"),
                                firstFeedbackRecorded: recorded("first_feedback_at", near: feedback), restoredRecorded: recorded("restored_at", near: restored)))
        case .complaint:
            guard let customer = customer(), let received = time("received_at") else { return }
            let feedback = time("first_feedback_at"), resolved = time("resolved_at")
            complaints.append(Complaint(id: id, customer: customer, receivedAt: received, firstFeedbackAt: feedback,
                                        resolvedAt: resolved, escalatedAt: time("escalated_at"), closedAt: time("closed_at"),
                                        level: text("level"), owner: text("owner"),
                                        firstFeedbackRecorded: recorded("first_feedback_at", near: feedback),
                                        resolvedRecorded: recorded("resolved_at", near: resolved)))
        case .visit:
            guard !field("removed").bool, let customer = customer(), let at = time("at"), let visitKind = text("kind") else { return }
            visits.append(Visit(customer: customer, at: at, kind: visitKind, complaint: text("complaint"), manager: text("manager"),
                                recorded: recorded("at", near: at)))
        case .agreement:
            guard !field("removed").bool, let customer = customer() else { return }
            let notice = date("renewal_notice_at"), renewed = date("renewed_at"), termination = date("termination_notice_at")
            agreements.append(Agreement(id: id, customer: customer, number: text("number") ?? "", starts: date("starts"), ends: date("ends"),
                                        restoreHours: field("restore_hours").int, renewalNoticeAt: notice,
                                        renewedAt: renewed, terminationNoticeAt: termination,
                                        renewalNoticeRecorded: recorded("renewal_notice_at", day: notice),
                                        renewedRecorded: recorded("renewed_at", day: renewed),
                                        terminationNoticeRecorded: recorded("termination_notice_at", day: termination)))
        case .calendarDay:
            guard !field("removed").bool, let date = text("date").flatMap(LocalDate.init(iso:)) else { return }
            if text("kind") == "holiday" { calendar.holidays.insert(date) } else if text("kind") == "workday" { calendar.makeUpDays.insert(date) }
        case .setting:
            guard id == ProvinceSettings.id else { return }
            restorationDefault = RestorationDefault(hours: field("restoration_hours").int, vipHours: field("restoration_hours_vip").int)
        case .handover:
            // When the change was stamped (its clock, corrected and bounded by the server), not the `at` it states.
            guard let customer = customer(), let at = stamp("manager").map({ Timestamp.recorded(milliseconds: $0, offsetMinutes: 0) }) ?? time("at") else { return }
            handovers[customer, default: []].append(Handover(at: at, previous: text("previous"), manager: text("manager"),
                                                             milliseconds: stamp("manager") ?? UInt64(clamping: at.epochSeconds) * 1_000))
        case .contact, .faultNote, .complaintNote, .conflict, .branch:
            return
        }
    }

    /// Only the customers (and their records) of one branch.
    public func restricted(toBranch branch: String) -> KPIFacts {
        var copy = self
        copy.customers = customers.filter { $0.value.branch == branch }
        return copy
    }

    /// Only the customers `keep` accepts.
    public func restricted(where keep: (Customer) -> Bool) -> KPIFacts {
        var copy = self
        copy.customers = customers.filter { keep($0.value) }
        return copy
    }

    /// Only what one person answers for: the faults and complaints they own
    /// (首问负责人), the follow-up visits of those complaints, and the visit
    /// coverage of the weeks they visited or, unvisited, of their customers.
    public func restricted(toResponsible person: String) -> KPIFacts {
        var copy = self
        copy.responsible = person
        return copy
    }
}

/// The fault restoration limit the province set for faults whose own record and
/// agreements state none (hours from the report); nil where it set none, and
/// FieldSync's own figure applies (`ServiceLimits.faultRestorationHours`).
public struct RestorationDefault: Sendable, Equatable {
    public var hours: Int64?
    public var vipHours: Int64?

    public init(hours: Int64? = nil, vipHours: Int64? = nil) {
        self.hours = hours
        self.vipHours = vipHours
    }

    /// The limit for a level and where it comes from: "province default" or "FieldSync default".
    public func limit(vip: Bool) -> (hours: Int64, source: String) {
        // Clamped to the schema's range: a stored value never reaches a trapping multiplication.
        if let set = vip ? vipHours : hours { return (min(max(set, 1), 8_760), "province default") }
        return (ServiceLimits.faultRestorationHours(vip: vip), "FieldSync default")
    }
}
