import FieldSyncModel

/// What every report looks up, built once for a set of facts instead of once
/// per report: a dashboard asks for eight reports of the same facts, and a
/// province has close to a million visits. Pure; shared by copies of the facts.
public final class KPIIndex: Sendable {
    /// The first routine visit of each (customer, ISO week): its time and manager, by the week's Monday.
    /// `recorded`: when the week's first-typed visit was typed, seconds since the epoch.
    let routineWeeks: [String: [Int64: (at: Timestamp, manager: String?, recorded: Int64?)]]
    /// Follow-up visit times (and when each was typed) by the complaint they name, and by customer.
    let followUpsByComplaint: [String: [(at: Timestamp, recorded: Timestamp?)]]
    let followUpsByCustomer: [String: [(at: Timestamp, recorded: Timestamp?)]]
    /// Agreements stating a restoration limit, by customer.
    let restorationAgreements: [String: [KPIFacts.Agreement]]
    /// What it was built from, to tell it still fits the facts.
    let visitCount: Int
    let agreementCount: Int

    public init(_ facts: KPIFacts) {
        var routineWeeks: [String: [Int64: (at: Timestamp, manager: String?, recorded: Int64?)]] = [:]
        var byComplaint: [String: [(at: Timestamp, recorded: Timestamp?)]] = [:]
        var byCustomer: [String: [(at: Timestamp, recorded: Timestamp?)]] = [:]
        for visit in facts.visits {
            if visit.kind == VisitKind.routine.rawValue {
                let day = visit.at.localDay
                let monday = (day + Int64(1 - day.weekday)).dayNumber
                // The week's earliest visit counts (ties by manager, so every replica picks the same), and the
                // week was recorded when its first-typed visit was: any visit of the week shows it was served.
                if let earlier = routineWeeks[visit.customer]?[monday] {
                    let typed = switch (earlier.recorded, visit.recordedSeconds) {
                    case let (one?, other?): min(one, other)
                    case let (one, other): one ?? other
                    }
                    let keep = (earlier.at, earlier.manager ?? "") <= (visit.at, visit.manager ?? "")
                    routineWeeks[visit.customer]?[monday] = keep ? (earlier.at, earlier.manager, typed) : (visit.at, visit.manager, typed)
                    continue
                }
                routineWeeks[visit.customer, default: [:]][monday] = (visit.at, visit.manager, visit.recordedSeconds)
            } else if visit.kind == VisitKind.complaintFollowUp.rawValue {
                if let complaint = visit.complaint { byComplaint[complaint, default: []].append((visit.at, visit.recorded)) }
                byCustomer[visit.customer, default: []].append((visit.at, visit.recorded))
            }
        }
        var agreements: [String: [KPIFacts.Agreement]] = [:]
        for agreement in facts.agreements where agreement.restoreHours != nil { agreements[agreement.customer, default: []].append(agreement) }
        self.routineWeeks = routineWeeks
        followUpsByComplaint = byComplaint
        followUpsByCustomer = byCustomer
        restorationAgreements = agreements
        visitCount = facts.visits.count
        agreementCount = facts.agreements.count
    }

    func fits(_ facts: KPIFacts) -> Bool { visitCount == facts.visits.count && agreementCount == facts.agreements.count }
}

extension KPIFacts {
    /// These facts with their index built, for facts that serve several reports (a server's cache).
    public func indexed() -> KPIFacts {
        var copy = self
        copy.index = KPIIndex(self)
        return copy
    }

    /// The index built with the facts, or one built now.
    var currentIndex: KPIIndex {
        if let index, index.fits(self) { return index }
        return KPIIndex(self)
    }
}
