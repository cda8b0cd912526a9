/// The closed lists of values a field takes, as types: the schema checks
/// stored values against them and the CLI parses options into them.

public enum ServiceLevel: String, CaseIterable, Sendable {
    case vip, standard
}

public enum VisitKind: String, CaseIterable, Sendable {
    case routine
    case complaintFollowUp = "complaint-follow-up"
    case jointMeeting = "joint-meeting"
    case other
}

public enum ComplaintChannel: String, CaseIterable, Sendable {
    case phone
    case inPerson = "in-person"
    case email, hotline
}

/// Where a fault's dispatch (派单) stands.
public enum DispatchState: String, CaseIterable, Sendable {
    case notDispatched = "not-dispatched"
    case dispatched
    case onSite = "on-site"
    case done
}
