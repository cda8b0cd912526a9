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
///   refused any of a laptop's own actions (never on a push that refused
///   nothing: no extra write on an ordinary sync; never for a branch server). The engine keeps one row per
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
///   (`Replica.finishExchange`), for an action refused before the answer and again
///   in it: a discard takes the action out of the outbox into
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
    /// The reason as a text key (`Rejection.text`), kept for the inbox to say it in its reader's language.
    public var text: ReasonText?

    public init(node: NodeID, counter: UInt64, reason: String, about: String, at: UInt64, decision: SyncResponse.Instruction? = nil,
                text: ReasonText? = nil) {
        (self.node, self.counter, self.reason, self.about, self.at, self.decision, self.text) = (node, counter, reason, about, at, decision, text)
    }

    /// `text` as the engines keep it (`refused_actions.reason_text`, JSON), or nil.
    public static func column(_ text: ReasonText?) -> String? {
        guard let text else { return nil }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(text)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// A kept `reason_text`; anything else reads as none (the English reason stands).
    public static func text(fromColumn column: String?) -> ReasonText? {
        column.flatMap { try? JSONDecoder().decode(ReasonText.self, from: Data($0.utf8)) }
    }

    /// One refusal of a push, as `noteRefusals` stores it.
    public struct Refusal: Sendable, Equatable {
        public var counter: UInt64
        public var reason: String
        public var about: String
        public var text: ReasonText?

        public init(counter: UInt64, reason: String, about: String, text: ReasonText? = nil) {
            (self.counter, self.reason, self.about, self.text) = (counter, reason, about, text)
        }
    }

    /// Rows kept per device at most (beyond it the oldest undecided go first): a push holds at most 1,000.
    public static let maxPerDevice = 1_000
    /// Rows an inbox reads at most, oldest refusal first (it lists 500 per kind).
    public static let maxRead = 2_000
    /// Unicode scalars kept of a reason and of what an action wrote (bytes, not characters: one
    /// character may hold any number of combining marks).
    public static let maxReasonScalars = 1_000, maxAboutScalars = 200
}

extension String {
    /// At most `count` Unicode scalars of it.
    public func prefix(scalars count: Int) -> String {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: unicodeScalars.prefix(count))
        return String(view)
    }
}

public enum RefusedActionRules {
    /// The refusals of a push that are the device's own actions, with what each wrote.
    /// Each counter once (a push may name one twice), its texts bounded.
    public static func refusals(of request: SyncRequest, response: SyncResponse, device: NodeID) -> [RefusedAction.Refusal] {
        var seen = Set<UInt64>()
        let own = response.rejected.filter { $0.origin == device && seen.insert($0.counter).inserted }
        guard !own.isEmpty else { return [] }
        let byCounter = Dictionary(request.mutations.filter { $0.origin == device }.map { ($0.counter, $0) }, uniquingKeysWith: { first, _ in first })
        return own.map { rejection in
            RefusedAction.Refusal(counter: rejection.counter, reason: rejection.reason.prefix(scalars: RefusedAction.maxReasonScalars),
                                  about: byCounter[rejection.counter].map(about) ?? "", text: rejection.text)
        }
    }

    /// Whether a device's refusals are kept for its supervisor: a laptop's. A branch server's own
    /// refused work is its operator's (`fieldsync-server upstream status`); it never sends it again.
    public static func keepsRefusals(of device: DeviceContext) -> Bool { device.user.role != .branch }

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
            if fields[key] == nil { order.append((change.table, change.record.prefix(scalars: 8))) }
            // A field name is the sender's: 40 scalars of it say which, a fields list at most 12 of them.
            if fields[key, default: []].count < 12 { fields[key, default: []].append(change.field.prefix(scalars: 40)) }
        }
        let text: String
        if order.count == 1, let (kind, record) = order.first, let written = fields.first?.value {
            text = "\(kind.noun) \(record) (\(written.joined(separator: ", "))\(written.count == 12 ? ", …" : ""))"
        } else {
            text = "\(order.count) records: " + order.prefix(4).map { "\($0.0.noun) \($0.1)" }.joined(separator: ", ") + (order.count > 4 ? ", …" : "")
        }
        return Wording.printable(text).prefix(scalars: RefusedAction.maxAboutScalars)
    }

    /// A decision's note as stored: trimmed, printable, 1 to `maxNoteLength` characters.
    public static func checkedNote(_ note: String) throws -> String {
        let trimmed = note.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else {
            throw ServerError.badRequest("say why (a discard keeps it as its reason) or what to correct: the note is empty")
        }
        // Counted as JSON Schema's maxLength counts: code points.
        guard trimmed.unicodeScalars.count <= SyncResponse.Instruction.maxNoteLength else {
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
        guard let device, device.revokedAt == nil, device.role != .branch,
              policy.isUnrestricted || (device.branch != nil && device.branch == user.branch) else {
            throw ServerError.notFound("no device of your branch in use has that node (a revoked device's work waits on it; a branch server's "
                                       + "refused work is its operator's, 'fieldsync-server upstream status'); 'fieldsync inbox' lists refused work with its device's node")
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

extension Directory.Entry {
    /// Names as `noteRelayedNames` keeps them: each node once (the last given), cleaned, bounded.
    public static func keptNames(_ names: [Directory.Entry]) -> [Directory.Entry] {
        var seen = Set<NodeID>()
        return names.prefix(FreshnessReport.maxNames).reversed().filter { seen.insert($0.node).inserted }.reversed().compactMap { entry in
            guard let user = FreshnessReport.cleanName(entry.user), let device = FreshnessReport.cleanName(entry.device) else { return nil }
            return Directory.Entry(node: entry.node, user: user, device: device)
        }
    }
}
