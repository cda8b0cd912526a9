import FieldSyncModel

/// The service-level KPIs of BRIEF.md, from the handbook's time limits.
public enum KPI: String, CaseIterable, Sendable, Codable {
    case faultFirstFeedback = "fault_first_feedback"
    case faultRestoration = "fault_restoration"
    case complaintFirstFeedback = "complaint_first_feedback"
    case complaintResolution = "complaint_resolution"
    case complaintFollowUpVisit = "complaint_follow_up_visit"
    case visitCoverage = "visit_coverage"

    public var title: String {
        switch self {
        case .faultFirstFeedback: "Fault first feedback on time (60 min, VIP 30 min)"
        case .faultRestoration: "Fault restored by the agreed time"
        case .complaintFirstFeedback: "Complaint first feedback on time (2 h, VIP 1 h)"
        case .complaintResolution: "Complaint resolved within 3 working days"
        case .complaintFollowUpVisit: "Follow-up visit within 2 working days of the resolution"
        case .visitCoverage: "Customer-weeks with a routine on-site visit"
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
        }
    }
}

public enum KPIGrouping: String, CaseIterable, Sendable, Codable {
    case manager, branch, province
}

/// One record (or customer-week) that missed its limit.
public struct KPIMiss: Sendable, Equatable {
    public var kpi: KPI
    /// The fault, complaint or (for visit coverage) customer.
    public var table: RecordKind
    public var record: String
    public var customer: String
    public var customerName: String
    public var manager: String?
    public var branch: String?
    /// The limit as a person reads it: "30 min (VIP)", "3 working days", "agreed 2026-11-20T18:00:00+08:00", "week 2026-W47".
    public var limit: String
    public var deadline: Timestamp
    /// When it was done; nil while still open.
    public var actual: Timestamp?
    /// How late: done minus deadline, or (still open) the report time minus deadline.
    public var lateBySeconds: Int64

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

    public func figure(_ kpi: KPI) -> KPIFigure { figures.first { $0.kpi == kpi } ?? KPIFigure(kpi: kpi) }
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
