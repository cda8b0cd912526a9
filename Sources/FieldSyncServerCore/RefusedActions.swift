import FieldSyncModel
import FieldSyncProtocol
import Foundation

/// Acting on refused work from the inbox (issue 28, item 4).
///
/// A laptop keeps an action the server refused in its outbox and sends it again
/// at every sync, oldest first. So the server needs to keep only what it refused
/// lately, per device and counter, and a supervisor's decision about it rides
/// back on the answer to the next push that sends the action again:
///
/// - `SyncHTTPServer` calls `AccountStorage.noteRefusals` after a push that
///   refused any of the device's own actions (never on a push that refused
///   nothing: no extra write on an ordinary sync). The engine keeps one row per
///   (node, counter): the reason, what the action wrote (`about`), when. A row
///   whose counter lies in the pushed run and was not refused this time was taken
///   or discarded on the laptop (a page holds every outbox action of its run), and
///   a push holding the device's whole outbox (`pending` equals what it sent)
///   drops every row it did not refuse. The call returns the decisions stored for
///   the counters refused now, which the answer carries (`SyncResponse.instructions`).
/// - A supervisor decides with `POST /v1/inbox/refused` (`fieldsync inbox
///   discard|hand-back`, `fieldsync-server inbox discard|hand-back`):
///   `AccountStorage.decideRefused` stores it on the row; `RefusedActionRules`
///   says who may (the supervisor of the device's branch, the province,
///   administrators) and what a note may hold.
/// - The laptop applies it in the transaction that stores the answer
///   (`Replica.finishExchange`): a discard takes the action out of the outbox into
///   `discarded` with who decided and why; a note is kept beside the refusal and
///   shown by `status`, `outbox` and `inbox`.
/// - The inbox lists one entry per row of a device whose latest push left
///   refused work (`DeviceRecord.refused`), with the decision if one was made.
///
/// Both engines keep the same rows with the same statements' meaning; the rules
/// and the texts are here, once.
public struct RefusedAction: Sendable, Equatable {
    public var node: NodeID
    public var counter: UInt64
    public var reason: String
    /// What the action wrote: "visit 1a2b3c4d (customer, at, summary)".
    public var about: String
    /// When the server last refused it (its clock, ms).
    public var at: UInt64
    /// What a supervisor decided, if they did.
    public var decision: SyncResponse.Instruction?

    public init(node: NodeID, counter: UInt64, reason: String, about: String, at: UInt64, decision: SyncResponse.Instruction? = nil) {
        (self.node, self.counter, self.reason, self.about, self.at, self.decision) = (node, counter, reason, about, at, decision)
    }

    /// One refusal of a push, as `noteRefusals` stores it.
    public struct Refusal: Sendable, Equatable {
        public var counter: UInt64
        public var reason: String
        public var about: String

        public init(counter: UInt64, reason: String, about: String) {
            (self.counter, self.reason, self.about) = (counter, reason, about)
        }
    }

    /// Rows kept per device at most (the oldest refused go first beyond it).
    public static let maxPerDevice = 5_000
}

public enum RefusedActionRules {
    /// The refusals of a push that are the device's own actions, with what each wrote.
    public static func refusals(of request: SyncRequest, response: SyncResponse, device: NodeID) -> [RefusedAction.Refusal] {
        let own = response.rejected.filter { $0.origin == device }
        guard !own.isEmpty else { return [] }
        let byCounter = Dictionary(request.mutations.filter { $0.origin == device }.map { ($0.counter, $0) }, uniquingKeysWith: { first, _ in first })
        return own.map { rejection in
            RefusedAction.Refusal(counter: rejection.counter, reason: String(rejection.reason.prefix(2_000)),
                                  about: byCounter[rejection.counter].map(about) ?? "")
        }
    }

    /// The run of the device's own counters a push sent, if any.
    public static func pushedRun(of request: SyncRequest, device: NodeID) -> ClosedRange<UInt64>? {
        let own = request.mutations.lazy.filter { $0.origin == device }.map(\.counter)
        guard let low = own.min(), let high = own.max() else { return nil }
        return low...high
    }

    /// Whether a push sent every action the device had waiting (then a stored refusal it did not
    /// send again is no longer on the device).
    public static func holdsWholeOutbox(_ request: SyncRequest, device: NodeID) -> Bool {
        guard let pending = request.pending else { return false }
        return pending == request.mutations.lazy.filter { $0.origin == device }.count
    }

    /// "visit 1a2b3c4d (customer, at, summary)", "2 records: customer 0f0e…, visit 1a2b…", at most 200 characters.
    public static func about(_ mutation: Mutation) -> String {
        var order: [(RecordKind, String)] = []
        var fields: [String: [String]] = [:]
        for change in mutation.changes {
            let key = "\(change.table.rawValue)/\(change.record)"
            if fields[key] == nil { order.append((change.table, change.record)) }
            fields[key, default: []].append(change.field)
        }
        let text: String
        if order.count == 1, let (kind, record) = order.first {
            text = "\(kind.noun) \(record.prefix(8)) (\((fields["\(kind.rawValue)/\(record)"] ?? []).joined(separator: ", ")))"
        } else {
            text = "\(order.count) records: " + order.prefix(4).map { "\($0.0.noun) \($0.1.prefix(8))" }.joined(separator: ", ") + (order.count > 4 ? ", …" : "")
        }
        return Wording.printable(String(text.prefix(200)))
    }

    /// A decision's note as stored: trimmed, printable, 1 to `maxNoteLength` characters.
    public static func checkedNote(_ note: String) throws -> String {
        let trimmed = note.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else {
            throw ServerError.badRequest("say why (a discard keeps it as its reason) or what to correct: the note is empty")
        }
        guard trimmed.count <= SyncResponse.Instruction.maxNoteLength else {
            throw ServerError.badRequest("the note is over \(SyncResponse.Instruction.maxNoteLength) characters")
        }
        guard !trimmed.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && $0 != "\n" }) else {
            throw ServerError.badRequest("the note holds control characters")
        }
        return trimmed
    }

    /// Whether `user` may decide about the work of `device`: the supervisor of its branch, the
    /// province, administrators. A manager, or a supervisor of another branch, may not, and is
    /// told so without learning whether the device exists elsewhere.
    public static func check(_ user: UserInfo, mayDecideFor device: DeviceRecord?) throws -> DeviceRecord {
        let policy = AccessPolicy(user)
        guard policy.mayOpenDashboard else { throw ServerError.forbiddenInbox }
        guard let device, policy.isUnrestricted || (device.branch != nil && device.branch == user.branch) else {
            throw ServerError.notFound("no device of your branch has that node; 'fieldsync inbox' lists refused work with its device's node")
        }
        return device
    }

    /// Who decided, as the writer's laptop shows it: "Sue (supervisor)".
    public static func by(_ user: UserInfo) -> String { "\(user.name) (\(user.role.rawValue))" }
}

extension RefusedActionAnswer {
    /// A kept action with its decision.
    public init(_ action: RefusedAction) {
        self.init(node: action.node, counter: action.counter, reason: action.reason, about: action.about,
                  decision: action.decision ?? SyncResponse.Instruction(counter: action.counter, action: .note, note: "", by: "", at: 0))
    }
}
