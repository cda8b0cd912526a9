import FieldSyncModel
import FieldSyncProtocol
import Foundation

/// What the server stores about people, their devices and the dashboard's
/// browser sessions, in the shape of Hummingbird's `PersistDriver`: one
/// protocol, one implementation per engine (SQLite: `SQLiteAccountStorage` over
/// `ServerStore`; PostgreSQL: `FieldSyncPostgres.PostgresServerStorage`).
///
/// Engines keep rows and make each operation one transaction; every decision
/// about them (who may enrol, what a code or link is worth, which role needs a
/// branch, the messages) is `AccountRules`', called by both, so both engines
/// enforce exactly the same rules. `AccountStorageConformance` in the tests runs
/// the same scenarios against each engine. Secrets are stored as hashes only.
public protocol AccountStorage: Sendable {
    /// Creates a person and a one-time enrolment code for their first device.
    func addUser(_ info: UserInfo, codeLifetime: UInt64) async throws -> (user: UserRecord, code: String, expiresAt: UInt64)
    /// A new enrolment code for an existing person (a second or replacement device).
    func issueCode(forUser name: String, codeLifetime: UInt64) async throws -> (code: String, expiresAt: UInt64)
    func users() async throws -> [UserRecord]
    /// Every device, oldest enrolment first.
    func devices() async throws -> [DeviceRecord]
    /// Revokes a device (id or unique prefix); its next request is refused.
    func revokeDevice(_ prefix: String) async throws -> DeviceRecord
    /// Trades a one-time code for a device token.
    func enroll(_ request: EnrollRequest) async throws -> EnrollResponse
    /// The device behind a bearer token, refused if unknown or revoked.
    func authenticate(token: String) async throws -> DeviceContext
    /// A one-time dashboard login link for a supervisor's, the province's or an administrator's device.
    func issueLoginLink(for device: DeviceContext) async throws -> DashboardLink
    /// Uses up a login link and returns a session token for the cookie.
    func openSession(link: String) async throws -> String
    /// The device behind a session cookie; a revoked device's sessions end with it.
    func authenticate(session: String) async throws -> DeviceContext
    /// Keeps what a push refused of `node`'s own actions and drops what it no longer holds
    /// (`RefusedAction`); returns the decisions stored for the actions refused now. One transaction.
    func noteRefusals(node: NodeID, refused: [RefusedAction.Refusal], pushed: ClosedRange<UInt64>?, wholeOutbox: Bool) async throws -> [SyncResponse.Instruction]
    /// The refused actions kept of these devices, oldest refusal first, at most `limit`.
    func refusedActions(of nodes: [NodeID], limit: Int) async throws -> [RefusedAction]
    /// One kept refused action.
    func refusedAction(node: NodeID, counter: UInt64) async throws -> RefusedAction?
    /// Stores a decision on a kept refused action; false if none is kept for (node, counter).
    func decideRefused(node: NodeID, counter: UInt64, decision: SyncResponse.Instruction) async throws -> Bool
    /// Keeps the names a branch server (device `via`) reported for the devices below it
    /// (`FreshnessReport.names`), only for nodes it relays (`relayed_nodes`): each node once (the
    /// last given), names cleaned (`FreshnessReport.cleanName`), a row written only if it changed.
    /// Returns how many were written.
    func noteRelayedNames(_ names: [Directory.Entry], via device: String) async throws -> Int
    /// The names these branch servers (device ids) reported, with the one that reported each.
    func relayedNames(via devices: [String]) async throws -> [(entry: Directory.Entry, via: String)]
}

extension AccountStorage {
    /// The devices below this server a user may see (`GET /v1/nodes`): a
    /// supervisor those of their branch, the province and administrators all.
    public func nodes(for user: UserInfo) async throws -> [NodeInfo] {
        let policy = AccessPolicy(user)
        guard policy.mayOpenDashboard else { throw ServerError.forbiddenNodes }
        return try await devices().filter { policy.isUnrestricted || $0.branch == user.branch }.map(\.info)
    }

    /// Who writes under each node a user may meet in their records (`GET /v1/directory`):
    /// the devices of their branch, revoked ones too (their work stays), and those of
    /// people of no branch (the province, administrators); everyone for the province.
    /// Names only: no token, no activity; any device may ask.
    /// Writers below a branch server are named as it reported them (`FreshnessReport.names`), for
    /// those who see that branch server.
    public func directory(for user: UserInfo) async throws -> Directory {
        let policy = AccessPolicy(user)
        let devices = try await devices()
        let visible = devices.filter { policy.isUnrestricted || $0.branch == nil || $0.branch == user.branch }
        var entries = visible.map { Directory.Entry(node: $0.node, user: $0.user, device: $0.name) }
        var named = Set(entries.map(\.node))
        // Shown with the branch server that reported them: its word, not an enrolment here.
        let branchServers = Dictionary(visible.filter { $0.role == .branch }.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
        guard !branchServers.isEmpty else { return Directory(nodes: entries) }
        for (entry, via) in try await relayedNames(via: Array(branchServers.keys)) where named.insert(entry.node).inserted {
            entries.append(Directory.Entry(node: entry.node, user: entry.user, device: "\(entry.device), via \(branchServers[via] ?? "a branch server")"))
        }
        return Directory(nodes: entries)
    }
}

extension AccountStorage {
    /// A supervisor's decision about a refused action (`POST /v1/inbox/refused`), checked by
    /// `RefusedActionRules` and stored for the device's next push that sends it again.
    public func decide(_ request: RefusedActionDecision, by user: UserInfo, now: UInt64) async throws -> RefusedAction {
        let device = try RefusedActionRules.check(user, mayDecideFor: try await devices().first { $0.node == request.node })
        let decision = SyncResponse.Instruction(counter: request.counter, action: request.action,
                                                note: try RefusedActionRules.checkedNote(request.note), by: RefusedActionRules.by(user), at: now)
        guard try await decideRefused(node: request.node, counter: request.counter, decision: decision),
              var action = try await refusedAction(node: request.node, counter: request.counter) else {
            throw ServerError.notFound("\(device.user)'s device \(device.name) has no refused action #\(request.counter) kept here: it was taken, discarded, or has not been sent again since; 'fieldsync inbox' lists what is")
        }
        action.decision = decision
        return action
    }
}

/// An enrolment code as stored, with its person.
public struct StoredCode: Sendable, Equatable {
    public var userID: String
    public var user: UserInfo
    public var expiresAt: UInt64
    public var usedAt: UInt64?

    public init(userID: String, user: UserInfo, expiresAt: UInt64, usedAt: UInt64?) {
        self.userID = userID
        self.user = user
        self.expiresAt = expiresAt
        self.usedAt = usedAt
    }
}

/// A device as stored behind a token or session, with its person.
public struct StoredDevice: Sendable {
    public var context: DeviceContext
    public var revoked: Bool
    public var lastSeen: UInt64?

    public init(context: DeviceContext, revoked: Bool, lastSeen: UInt64?) {
        self.context = context
        self.revoked = revoked
        self.lastSeen = lastSeen
    }
}

/// A dashboard login link as stored.
public struct StoredLink: Sendable, Equatable {
    public var device: String
    public var expiresAt: UInt64
    public var usedAt: UInt64?
    public var deviceRevoked: Bool

    public init(device: String, expiresAt: UInt64, usedAt: UInt64?, deviceRevoked: Bool) {
        self.device = device
        self.expiresAt = expiresAt
        self.usedAt = usedAt
        self.deviceRevoked = deviceRevoked
    }
}

/// The rules about people, devices and sessions, whatever engine stores them.
/// Pure: each takes what the engine read and decides, or throws the answer.
public enum AccountRules {
    public static let defaultCodeLifetime: UInt64 = 7 * 86_400_000
    public static let loginLinkLifetime: UInt64 = 10 * 60_000
    public static let sessionLifetime: UInt64 = 8 * 3_600_000
    /// `device list` shows when a device was last seen to the minute: a token's use is written at most this often.
    public static let lastSeenResolution: UInt64 = 60_000

    /// The person to create, checked: a name, and a registered branch for the roles that work for one.
    public static func newUser(_ info: UserInfo, registeredBranches: [String]) throws -> UserInfo {
        let name = info.name.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty else { throw ServerError.badRequest("--name must not be empty", text: ErrorText("admin.name-empty")) }
        guard name.unicodeScalars.count <= 200, !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ServerError.badRequest("a name is at most 200 characters, without control characters", text: ErrorText("admin.name-too-long"))
        }
        if [.manager, .supervisor, .branch].contains(info.role), info.branch == nil {
            throw ServerError.badRequest("a \(info.role.rawValue) works for a branch", hint: .giveBranch, text: ErrorText("admin.role-needs-branch", ["role": info.role.rawValue]))
        }
        if let branch = info.branch, !registeredBranches.contains(branch) {
            let known = registeredBranches.sorted()
            if let close = ClosestName.to(branch, among: known) {
                throw ServerError.badRequest("branch '\(branch)' is not registered; did you mean '\(close)'? (registered: \(known.joined(separator: ", ")))",
                                             text: ErrorText("admin.branch-unknown-close", ["branch": branch, "close": close, "known": known.joined(separator: ", ")]))
            }
            throw ServerError.badRequest("branch '\(branch)' is not registered (\(known.isEmpty ? "none is" : "registered: " + known.joined(separator: ", ")))",
                                         hint: .registerBranch(branch),
                                         text: known.isEmpty ? ErrorText("admin.branch-unknown-none", ["branch": branch])
                                             : ErrorText("admin.branch-unknown", ["branch": branch, "known": known.joined(separator: ", ")]))
        }
        return UserInfo(name: name, role: info.role, branch: info.branch)
    }

    public static func userExists(_ name: String) -> ServerError {
        ServerError.badRequest("a user named '\(name)' exists", hint: .newCode, text: ErrorText("admin.user-exists", ["name": name]))
    }

    public static func noUser(_ name: String) -> ServerError {
        ServerError.badRequest("no user named '\(name)'", hint: .listUsers, text: ErrorText("admin.no-user", ["name": name]))
    }

    /// The one device `prefix` names among those whose ids start with it.
    public static func revocation(of prefix: String, matches: [String]) throws -> String {
        guard !matches.isEmpty else { throw ServerError.badRequest("no device with an id starting '\(prefix)'", hint: .listDevices, text: ErrorText("admin.no-device", ["id": prefix])) }
        guard matches.count == 1 else { throw ServerError.badRequest("'\(prefix)' names several devices; type more of the id", text: ErrorText("admin.several-devices", ["id": prefix])) }
        return matches[0]
    }

    /// A request's sizes, before anything is read.
    public static func checkEnrolment(_ request: EnrollRequest) throws {
        guard request.code.unicodeScalars.count <= 64, (1...200).contains(request.deviceName.unicodeScalars.count) else {
            throw ServerError.badRequest("code is at most 64 characters and device_name 1 to 200")
        }
    }

    /// The hash a code is stored under, however it was typed.
    public static func codeHash(_ code: String) -> String { Secret.hash(Secret.normalizeCode(code)) }

    /// Whether `code` enrols `request`'s node now; the person it enrols. A refusal uses nothing up.
    /// A node belongs to exactly one device, for good: idempotency and echo suppression are keyed by it.
    public static func enrolment(_ request: EnrollRequest, code: StoredCode?, nodeHeld: Bool, serverNode: NodeID, now: UInt64) throws -> UserInfo {
        guard let code else { throw ServerError.codeInvalid }
        if code.usedAt != nil { throw ServerError.codeUsed }
        if code.expiresAt < now { throw ServerError.codeExpired }
        if let expected = request.expectRole, code.user.role != expected {
            // Says nothing of the role the code is for: the caller is not authenticated yet.
            throw ServerError.badRequest("this code does not enrol a \(expected.rawValue) device; a \(expected.rawValue) device needs a code made with 'user add --role \(expected.rawValue)'")
        }
        if nodeHeld || request.node == serverNode { throw ServerError.nodeTaken(request.node) }
        return code.user
    }

    /// The caller behind a token or session as stored.
    public static func caller(_ stored: StoredDevice?) throws -> DeviceContext {
        guard let stored else { throw ServerError.unauthorized }
        if stored.revoked { throw ServerError.revoked }
        return stored.context
    }

    /// Whether the token's use is to be written (at most once a minute: a write costs a disk flush).
    public static func touches(lastSeen: UInt64?, now: UInt64) -> Bool {
        guard let lastSeen else { return true }
        return lastSeen < now && now - lastSeen > lastSeenResolution
    }

    public static func mayOpenDashboard(_ device: DeviceContext) throws {
        guard AccessPolicy(device.user).mayOpenDashboard else { throw ServerError.forbiddenRole }
    }

    /// Whether a login link opens a session now.
    public static func opening(_ link: StoredLink?, now: UInt64) throws {
        guard let link, link.usedAt == nil, link.expiresAt > now else { throw ServerError.loginLinkInvalid }
        if link.deviceRevoked { throw ServerError.revoked }
    }

    /// The caller behind a session cookie.
    public static func sessionCaller(_ stored: StoredDevice?, expiresAt: UInt64?, now: UInt64) throws -> DeviceContext {
        guard let stored, let expiresAt, expiresAt > now else { throw ServerError.loginLinkInvalid }
        if stored.revoked { throw ServerError.revoked }
        return stored.context
    }

    public static func link(_ token: String) -> DashboardLink {
        DashboardLink(path: "/dashboard/login?token=\(token)", expiresInSeconds: Int(loginLinkLifetime / 1000))
    }
}
