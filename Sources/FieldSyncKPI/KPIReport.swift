import FieldSyncModel

/// The service-level KPIs of BRIEF.md, from the handbook's time limits.
public enum KPI: String, CaseIterable, Sendable, Codable {
    case faultFirstFeedback = "fault_first_feedback"
    case faultRestoration = "fault_restoration"
    case complaintFirstFeedback = "complaint_first_feedback"
    case complaintResolution = "complaint_resolution"
    case complaintFollowUpVisit = "complaint_follow_up_visit"
    case visitCoverage = "visit_coverage"
    case agreementRenewalNotice = "agreement_renewal_notice"
    case agreementRenewal = "agreement_renewal"

    /// Position in `allCases`, without building the array (the tally's hot path).
    var index: Int {
        switch self {
        case .faultFirstFeedback: 0
        case .faultRestoration: 1
        case .complaintFirstFeedback: 2
        case .complaintResolution: 3
        case .complaintFollowUpVisit: 4
        case .visitCoverage: 5
        case .agreementRenewalNotice: 6
        case .agreementRenewal: 7
        }
    }

    public var title: String {
        switch self {
        case .faultFirstFeedback:
            "Fault first feedback on time (\(ServiceLimits.faultFeedbackMinutes(vip: false)) min, VIP \(ServiceLimits.faultFeedbackMinutes(vip: true)) min)"
        case .faultRestoration: "Fault restored by the agreed time"
        case .complaintFirstFeedback:
            "Complaint first feedback on time (\(ServiceLimits.complaintFeedbackHours(vip: false)) h, VIP \(ServiceLimits.complaintFeedbackHours(vip: true)) h)"
        case .complaintResolution: "Complaint resolved within \(ServiceLimits.complaintResolutionWorkingDays) working days"
        case .complaintFollowUpVisit: "Follow-up visit within \(ServiceLimits.followUpVisitWorkingDays) working days of the resolution"
        case .visitCoverage: "Customer-weeks with a routine on-site visit"
        case .agreementRenewalNotice: "Agreement expiry notice \(ServiceLimits.renewalNoticeMonths) months before the end"
        case .agreementRenewal: "Agreement re-signed or terminated \(ServiceLimits.renewalMonths) month before the end"
        }
    }

    /// Short column heading.
    public var heading: String {
        switch self {
        case .faultFirstFeedback: "fault feedback"
        case .faultRestoration: "fault restored"
        case .complaintFirstFeedback: "complaint feedback"
        case .complaintResolution: "complaint resolved"
        case .complaintFollowUpVisit: "follow-up visit"
        case .visitCoverage: "visit coverage"
        case .agreementRenewalNotice: "expiry notice"
        case .agreementRenewal: "renewal"
        }
    }
}

/// How figures are grouped: by the manager responsible for each event, the
/// customer's branch, the customer, or the whole province.
public enum KPIGrouping: String, CaseIterable, Sendable, Codable {
    case manager, branch, customer, province
}

/// One record (or customer-week) that missed its limit.
public struct KPIMiss: Sendable, Equatable {
    public var kpi: KPI
    /// The fault, complaint or (for visit coverage) customer.
    public var table: RecordKind
    public var record: String
    public var customer: String
    public var customerName: String
    /// The manager responsible (the case's owner, the visiting manager, else the customer's manager).
    public var manager: String?
    public var branch: String?
    /// The limit as a person reads it: "30 min (VIP)", "3 working days", "agreed 2026-11-20T18:00:00+08:00", "week 2026-W47".
    public var limit: String
    public var deadline: Timestamp
    /// When it was done; nil while still open.
    public var actual: Timestamp?
    /// How late: done minus deadline, or (still open) the report time minus deadline.
    public var lateBySeconds: Int64
    /// For a complaint: when it was escalated (重点督办), if it was.
    public var escalatedAt: Timestamp?
    /// When the time done was typed, when that was more than the tolerance after it (`ServiceLimits.isRecordedLate`).
    public var recorded: Timestamp? = nil

    public var isOpen: Bool { actual == nil }
}

/// One KPI for one group: numerator, denominator, rate. Records whose limit
/// has not passed yet and that are not done are `pending`, outside the rate.
public struct KPIFigure: Sendable, Equatable {
    public var kpi: KPI
    public var met: Int
    public var missed: Int
    public var pending: Int

    public var total: Int { met + missed }
    /// met / (met + missed); nil when nothing counted.
    public var rate: Double? { total == 0 ? nil : Double(met) / Double(total) }

    public init(kpi: KPI, met: Int = 0, missed: Int = 0, pending: Int = 0) {
        self.kpi = kpi
        self.met = met
        self.missed = missed
        self.pending = pending
    }
}

public struct KPIGroup: Sendable, Equatable {
    /// The manager's name, the branch's name, or "province"; "(unassigned)" for customers without one.
    public var name: String
    public var figures: [KPIFigure]
    /// Complaints escalated (重点督办) and not closed, at the report time.
    public var openEscalations: Int
    public var misses: [KPIMiss]

    public func figure(_ kpi: KPI) -> KPIFigure {
        kpi.index < figures.count && figures[kpi.index].kpi == kpi ? figures[kpi.index] : figures.first { $0.kpi == kpi } ?? KPIFigure(kpi: kpi)
    }
}

public struct KPIReport: Sendable, Equatable {
    public var period: ReportingPeriod
    public var grouping: KPIGrouping
    /// The moment open records are judged at.
    public var asOf: Timestamp
    /// Groups by name.
    public var groups: [KPIGroup]
    /// Everything in the report together.
    public var total: KPIGroup
}
