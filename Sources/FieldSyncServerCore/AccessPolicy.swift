import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol

/// Where a customer's file is visible: its branch, its manager and team, as
/// the server holds them.
public struct CustomerScope: Equatable, Sendable {
    public var branch: String?
    public var manager: String?
    public var team: [String]

    public init(branch: String? = nil, manager: String? = nil, team: [String] = []) {
        self.branch = branch
        self.manager = manager
        self.team = team
    }

    package init(_ customer: RecordState) {
        let schema = RecordKind.customer.schema
        self.init(branch: customer.value("branch", in: schema).text, manager: customer.value("manager", in: schema).text,
                  team: Team.members(customer.value("team", in: schema)))
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
        case .manager, .supervisor, .branch: false
        }
    }

    /// Whether a record of a customer in `scope` is within reach: a manager's
    /// are the customers of their branch they manage or whose team lists them;
    /// a supervisor's, their branch. A file with no branch is in no branch's reach.
    public func allows(_ scope: CustomerScope) -> Bool {
        switch user.role {
        case .province, .admin: true
        case .supervisor, .branch: scope.branch != nil && scope.branch == user.branch
        case .manager: scope.branch != nil && scope.branch == user.branch && (scope.manager == user.name || scope.team.contains(user.name))
        }
    }

    public func allows(_ customer: KPIFacts.Customer) -> Bool {
        allows(CustomerScope(branch: customer.branch, manager: customer.manager, team: customer.team))
    }

    /// The working-day calendar and the branch list are the province's.
    public var mayWriteProvinceRecords: Bool { isUnrestricted }

    /// The dashboard is for supervisors, the province and administrators.
    public var mayOpenDashboard: Bool {
        switch user.role {
        case .supervisor, .province, .admin: true
        case .manager, .branch: false
        }
    }

    /// How refusals name the caller's reach, without naming anything of another branch.
    public var reach: String {
        switch user.role {
        case .province, .admin: "every branch"
        case .supervisor, .branch: "branch \(user.branch ?? "(none)")"
        case .manager: "\(user.name)'s customers in branch \(user.branch ?? "(none)")"
        }
    }

    /// The KPI inputs within reach (their customers' records).
    public func visible(_ facts: KPIFacts) -> KPIFacts {
        isUnrestricted ? facts : facts.restricted(where: allows)
    }
}
