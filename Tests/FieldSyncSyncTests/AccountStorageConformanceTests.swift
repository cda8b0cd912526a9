import FieldSyncModel
import FieldSyncPostgres
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Logging
import PostgresNIO
import Synchronization
import Testing

/// One engine as the conformance scenarios drive it.
struct Engine: Sendable {
    var name: String
    var accounts: any AccountStorage
    var addBranch: @Sendable (String) async throws -> Void
    var branches: @Sendable () async throws -> [String]
    var serverNode: NodeID

    /// The SQLite engine in a new folder.
    static func sqlite(clock: TestClock, folder: TemporaryFolder) throws -> Engine {
        let data = ServerFolder(path: folder.path("server"))
        _ = try data.initialize(hosts: [], branch: nil, certificate: nil)
        let store = try ServerStore.open(folder: data.path, wallClock: clock.now)
        return Engine(name: "SQLite", accounts: SQLiteAccountStorage(store), addBranch: { try store.addBranch($0) },
                      branches: { try store.branches() }, serverNode: try store.replica.identity()!.node)
    }

    /// The PostgreSQL engine on a new database.
    static func postgres(_ client: PostgresClient, clock: TestClock) async throws -> Engine {
        let storage = try await PostgresServerStorage.open(client: client, logger: PostgresTestDatabase.logger, wallClock: clock.now)
        return Engine(name: "PostgreSQL", accounts: storage, addBranch: { try await storage.addBranch($0) },
                      branches: { try await storage.branches() }, serverNode: storage.node)
    }
}

/// The same scenarios against each engine: the outcomes, errors and messages must be the same.
@Suite struct AccountStorageConformanceTests {
    @Test func sqlite() async throws {
        let clock = TestClock()
        let folder = try TemporaryFolder()
        try await Self.accounts(Engine.sqlite(clock: clock, folder: folder), clock: clock)
    }

    @Test(.enabled(if: PostgresTestDatabase.enabled, "no PostgreSQL: set FIELDSYNC_TEST_DATABASE_URL (scripts/postgres start prints one)"))
    func postgres() async throws {
        try await PostgresTestDatabase.with { client, _ in
            let clock = TestClock()
            try await Self.accounts(Engine.postgres(client, clock: clock), clock: clock)
        }
    }

    /// People, codes, devices, tokens and dashboard sessions, end to end through one engine.
    static func accounts(_ engine: Engine, clock: TestClock) async throws {
        let accounts = engine.accounts
        func refusal(_ code: String, containing text: String? = nil, notContaining hidden: String? = nil, _ body: () async throws -> Void,
                     sourceLocation: SourceLocation = #_sourceLocation) async {
            do {
                try await body()
                Issue.record("\(engine.name): expected \(code)", sourceLocation: sourceLocation)
            } catch let error as ServerError {
                #expect(error.body.error == code, "\(engine.name): \(error.message)", sourceLocation: sourceLocation)
                if let text { #expect(error.message.contains(text), "\(engine.name): \(error.message)", sourceLocation: sourceLocation) }
                if let hidden { #expect(!error.message.contains(hidden), "\(engine.name): \(error.message)", sourceLocation: sourceLocation) }
            } catch {
                Issue.record("\(engine.name): \(error)", sourceLocation: sourceLocation)
            }
        }
        let lifetime = AccountRules.defaultCodeLifetime

        // People.
        await refusal(ErrorCode.badRequest, containing: "works for a branch") {
            _ = try await accounts.addUser(UserInfo(name: "Li Wei", role: .manager, branch: nil), codeLifetime: lifetime)
        }
        await refusal(ErrorCode.badRequest, containing: "is not registered (none is)") {
            _ = try await accounts.addUser(UserInfo(name: "Li Wei", role: .manager, branch: "Hangzhou"), codeLifetime: lifetime)
        }
        try await engine.addBranch("Hangzhou")
        try await engine.addBranch("Ningbo")
        #expect(try await engine.branches() == ["Hangzhou", "Ningbo"])
        await refusal(ErrorCode.badRequest, containing: "is registered already") { try await engine.addBranch("Ningbo") }
        let li = try await accounts.addUser(UserInfo(name: "  Li Wei ", role: .manager, branch: "Hangzhou"), codeLifetime: lifetime)
        #expect(li.user.info == UserInfo(name: "Li Wei", role: .manager, branch: "Hangzhou"))
        #expect(li.expiresAt == clock.now() + lifetime && li.code.count == 17)
        await refusal(ErrorCode.badRequest, containing: "a user named 'Li Wei' exists") {
            _ = try await accounts.addUser(UserInfo(name: "Li Wei", role: .supervisor, branch: "Ningbo"), codeLifetime: lifetime)
        }
        await refusal(ErrorCode.badRequest, containing: "no user named 'Nobody'") { _ = try await accounts.issueCode(forUser: "Nobody", codeLifetime: lifetime) }
        let sue = try await accounts.addUser(UserInfo(name: "Sue", role: .supervisor, branch: "Hangzhou"), codeLifetime: lifetime)
        let pat = try await accounts.addUser(UserInfo(name: "Pat", role: .province, branch: nil), codeLifetime: lifetime)
        #expect(try await accounts.users().map(\.info.name) == ["Li Wei", "Pat", "Sue"])

        // Enrolment: a code enrols one node once, before it expires; a refusal uses nothing up.
        var generator = SplitMix64(seed: 5)
        let laptop = NodeID.random(using: &generator)
        await refusal(ErrorCode.codeInvalid) { _ = try await accounts.enroll(EnrollRequest(code: "AAAAA-BBBBB-CCCCC", node: laptop, deviceName: "x")) }
        await refusal(ErrorCode.badRequest, containing: "device_name 1 to 200") { _ = try await accounts.enroll(EnrollRequest(code: li.code, node: laptop, deviceName: "")) }
        // Issue 24, item 5(d): the refusal once named the code's role ("this code is for a manager") to a caller
        // not yet authenticated; it now speaks only of the role the caller asked for.
        await refusal(ErrorCode.badRequest, containing: "this code does not enrol a branch device", notContaining: "manager") {
            _ = try await accounts.enroll(EnrollRequest(code: li.code, node: laptop, deviceName: "x", expectRole: .branch))
        }
        await refusal(ErrorCode.nodeTaken) { _ = try await accounts.enroll(EnrollRequest(code: li.code, node: engine.serverNode, deviceName: "x")) }
        // Typed loosely, the code still reads.
        let liDevice = try await accounts.enroll(EnrollRequest(code: li.code.lowercased().replacingOccurrences(of: "-", with: " "), node: laptop, deviceName: "Li's laptop"))
        #expect(liDevice.user == li.user.info && liDevice.serverNode == engine.serverNode)
        await refusal(ErrorCode.codeUsed) { _ = try await accounts.enroll(EnrollRequest(code: li.code, node: NodeID.random(using: &generator), deviceName: "x")) }
        let second = try await accounts.issueCode(forUser: "Li Wei", codeLifetime: lifetime)
        await refusal(ErrorCode.nodeTaken) { _ = try await accounts.enroll(EnrollRequest(code: second.code, node: laptop, deviceName: "copy")) }
        let short = try await accounts.issueCode(forUser: "Sue", codeLifetime: 1_000)
        clock.advance(2_000)
        await refusal(ErrorCode.codeExpired) { _ = try await accounts.enroll(EnrollRequest(code: short.code, node: NodeID.random(using: &generator), deviceName: "x")) }

        // Several enrolments with one code at once: one device.
        let racing = try await accounts.issueCode(forUser: "Sue", codeLifetime: lifetime)
        let nodes = (0..<6).map { _ in NodeID.random(using: &generator) }
        let outcomes = await withTaskGroup(of: String.self) { group in
            for node in nodes {
                group.addTask {
                    do {
                        _ = try await accounts.enroll(EnrollRequest(code: racing.code, node: node, deviceName: "race"))
                        return "enrolled"
                    } catch let error as ServerError {
                        return error.body.error
                    } catch {
                        return "\(error)"
                    }
                }
            }
            var all: [String] = []
            for await outcome in group { all.append(outcome) }
            return all.sorted()
        }
        #expect(outcomes == ["code_used", "code_used", "code_used", "code_used", "code_used", "enrolled"], "\(engine.name)")

        // Tokens.
        let liContext = try await accounts.authenticate(token: liDevice.token)
        #expect(liContext == DeviceContext(device: liDevice.device, node: laptop, user: li.user.info))
        await refusal(ErrorCode.unauthorized) { _ = try await accounts.authenticate(token: "not-a-token") }
        let listed = try await accounts.devices()
        #expect(listed.count == 2 && listed[0].id == liDevice.device && listed[0].lastSeen == clock.now() && listed[0].name == "Li's laptop")
        #expect(listed[0].role == .manager && listed[0].branch == "Hangzhou" && listed[0].user == "Li Wei")

        // Who sees the devices, and the dashboard.
        await refusal(ErrorCode.forbidden) { _ = try await accounts.nodes(for: li.user.info) }
        #expect(try await accounts.nodes(for: sue.user.info).count == 2)
        await refusal(ErrorCode.forbidden) { _ = try await accounts.issueLoginLink(for: liContext) }
        let patDevice = try await accounts.enroll(EnrollRequest(code: pat.code, node: NodeID.random(using: &generator), deviceName: "office"))
        let patContext = try await accounts.authenticate(token: patDevice.token)
        let link = try await accounts.issueLoginLink(for: patContext)
        #expect(link.path.hasPrefix("/dashboard/login?token=") && link.expiresInSeconds == 600)
        let token = String(link.path.dropFirst("/dashboard/login?token=".count))
        let session = try await accounts.openSession(link: token)
        await refusal(ErrorCode.unauthorized, containing: "login link") { _ = try await accounts.openSession(link: token) }
        #expect(try await accounts.authenticate(session: session) == patContext)
        await refusal(ErrorCode.unauthorized, containing: "login link") { _ = try await accounts.authenticate(session: "nonsense") }
        let expiring = String(try await accounts.issueLoginLink(for: patContext).path.dropFirst("/dashboard/login?token=".count))
        clock.advance(AccountRules.loginLinkLifetime + 1)
        await refusal(ErrorCode.unauthorized, containing: "login link") { _ = try await accounts.openSession(link: expiring) }

        // Refused actions kept per device, and the decisions about them (`RefusedAction`).
        func refusals(_ counters: [UInt64]) -> [RefusedAction.Refusal] {
            counters.map { RefusedAction.Refusal(counter: $0, reason: "refused \($0)", about: "calendar day \($0)") }
        }
        #expect(try await accounts.noteRefusals(node: laptop, refused: refusals([5, 6, 9]), pushed: 5...9, wholeOutbox: false) == [])
        #expect(try await accounts.refusedActions(of: [laptop], limit: 100).map(\.counter) == [5, 6, 9])
        #expect(try await accounts.refusedActions(of: [laptop], limit: 2).map(\.counter) == [5, 6], "\(engine.name): bounded")
        #expect(try await accounts.refusedActions(of: [engine.serverNode], limit: 100).isEmpty)
        #expect(try await accounts.refusedAction(node: laptop, counter: 9)?.about == "calendar day 9")
        let decision = SyncResponse.Instruction(counter: 6, action: .discard, note: "duplicate", by: "Sue (supervisor)", at: clock.now())
        #expect(try await accounts.decideRefused(node: laptop, counter: 6, decision: decision))
        #expect(try await accounts.decideRefused(node: laptop, counter: 7, decision: decision) == false, "\(engine.name): not kept")
        // A push of 6...8 refusing 6 again: 7 and 8 were taken; 9, outside the run, stays; the decision rides back.
        #expect(try await accounts.noteRefusals(node: laptop, refused: refusals([6]), pushed: 6...8, wholeOutbox: false) == [decision])
        #expect(try await accounts.refusedActions(of: [laptop], limit: 100).map(\.counter) == [5, 6, 9])
        // A push holding the whole outbox keeps only what it refused.
        _ = try await accounts.noteRefusals(node: laptop, refused: refusals([9]), pushed: 9...9, wholeOutbox: true)
        let kept = try await accounts.refusedActions(of: [laptop], limit: 100)
        #expect(kept == [RefusedAction(node: laptop, counter: 9, reason: "refused 9", about: "calendar day 9", at: clock.now())], "\(engine.name)")
        // Deciding goes through the rules: the supervisor of the branch, not a manager nor another branch.
        let answer = try await accounts.decide(RefusedActionDecision(node: laptop, counter: 9, action: .note, note: "  fix the date  "),
                                               by: sue.user.info, now: clock.now())
        #expect(answer.decision?.note == "fix the date" && answer.decision?.by == "Sue (supervisor)")
        await refusal(ErrorCode.forbidden) {
            _ = try await accounts.decide(RefusedActionDecision(node: laptop, counter: 9, action: .note, note: "x"), by: li.user.info, now: 0)
        }
        await refusal(ErrorCode.notFound, containing: "no device of your branch") {
            _ = try await accounts.decide(RefusedActionDecision(node: laptop, counter: 9, action: .note, note: "x"),
                                          by: UserInfo(name: "Nina", role: .supervisor, branch: "Ningbo"), now: 0)
        }
        await refusal(ErrorCode.badRequest, containing: "the note is empty") {
            _ = try await accounts.decide(RefusedActionDecision(node: laptop, counter: 9, action: .discard, note: " \n "), by: sue.user.info, now: 0)
        }
        await refusal(ErrorCode.notFound, containing: "has no refused action #5 kept") {
            _ = try await accounts.decide(RefusedActionDecision(node: laptop, counter: 5, action: .discard, note: "x"), by: sue.user.info, now: 0)
        }

        // Revocation ends tokens and sessions.
        await refusal(ErrorCode.badRequest, containing: "names several devices") { _ = try await accounts.revokeDevice("") }
        await refusal(ErrorCode.badRequest, containing: "no device with an id starting") { _ = try await accounts.revokeDevice("zzz%") }
        let revoked = try await accounts.revokeDevice(String(patDevice.device.prefix(8)).uppercased())
        #expect(revoked.id == patDevice.device && revoked.revokedAt == clock.now())
        await refusal(ErrorCode.deviceRevoked) { _ = try await accounts.authenticate(token: patDevice.token) }
        await refusal(ErrorCode.deviceRevoked) { _ = try await accounts.authenticate(session: session) }
        // A revoked device's refused work cannot be decided about: no sync of it would carry the decision.
        _ = try await accounts.noteRefusals(node: patContext.node, refused: refusals([3]), pushed: 3...3, wholeOutbox: true)
        await refusal(ErrorCode.notFound, containing: "in use") {
            _ = try await accounts.decide(RefusedActionDecision(node: patContext.node, counter: 3, action: .discard, note: "x"),
                                          by: UserInfo(name: "root", role: .admin, branch: nil), now: 0)
        }
        clock.advance(AccountRules.sessionLifetime)
        await refusal(ErrorCode.unauthorized) { _ = try await accounts.authenticate(session: session) }
    }
}
