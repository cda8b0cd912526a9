import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore

/// Where a customer's file is visible: its branch and its assigned manager,
/// as the server holds them.
public struct CustomerScope: Equatable, Sendable {
    public var branch: String?
    public var manager: String?

    public init(branch: String? = nil, manager: String? = nil) {
        self.branch = branch
        self.manager = manager
    }

    init(_ customer: RecordState) {
        let schema = RecordKind.customer.schema
        self.init(branch: customer.value("branch", in: schema).text, manager: customer.value("manager", in: schema).text)
    }
}

/// What one user may read and write, decided by their role. Sync, KPIs and the
/// dashboard all ask this type, so a rule changes in one place.
public struct AccessPolicy: Sendable {
    public let user: UserInfo

    public init(_ user: UserInfo) { self.user = user }

    /// The province and administrators reach every branch.
    public var isUnrestricted: Bool {
        switch user.role {
        case .province, .admin: true
        case .manager, .supervisor: false
        }
    }

    /// Whether a record of a customer in `scope` is within reach. Managers and
    /// supervisors reach their branch; a file with no branch belongs to nobody's.
    public func allows(_ scope: CustomerScope) -> Bool {
        isUnrestricted || (scope.branch != nil && scope.branch == user.branch)
    }

    /// The working-day calendar is the province's.
    public var mayWriteCalendar: Bool { isUnrestricted }

    /// The dashboard is for supervisors, the province and administrators.
    public var mayOpenDashboard: Bool { user.role != .manager }

    /// How refusals name the caller's reach, without naming anything of another branch.
    public var reach: String {
        isUnrestricted ? "every branch" : "branch \(user.branch ?? "(none)")"
    }

    /// The KPI inputs within reach: a manager their own customers, a supervisor their branch.
    public func visible(_ facts: KPIFacts) -> KPIFacts {
        switch user.role {
        case .manager: facts.restricted(toManager: user.name).restricted(toBranch: user.branch ?? "")
        case .supervisor: facts.restricted(toBranch: user.branch ?? "")
        case .province, .admin: facts
        }
    }
}
