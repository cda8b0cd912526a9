import FieldSyncModel

/// `POST /v1/enroll`: trade a one-time enrolment code for a device token.
public struct EnrollRequest: Codable, Sendable {
    public var code: String
    /// The replica's node id; a replica initialised offline keeps it.
    public var node: NodeID
    /// A name for the device (host name), shown in `fieldsync-server device list`.
    public var deviceName: String
    /// The role the device needs (a branch server needs `branch`): a code for
    /// another role is refused before anything is stored, and stays usable.
    public var expectRole: Role?

    public init(code: String, node: NodeID, deviceName: String, expectRole: Role? = nil) {
        self.code = code
        self.node = node
        self.deviceName = deviceName
        self.expectRole = expectRole
    }

    enum CodingKeys: String, CodingKey {
        case code, node
        case deviceName = "device_name"
        case expectRole = "expect_role"
    }
}

public struct EnrollResponse: Codable, Sendable {
    /// 256 random bits, base64url. The server keeps only its SHA-256.
    public var token: String
    public var device: String
    public var user: UserInfo
    public var serverNode: NodeID

    public init(token: String, device: String, user: UserInfo, serverNode: NodeID) {
        self.token = token
        self.device = device
        self.user = user
        self.serverNode = serverNode
    }

    enum CodingKeys: String, CodingKey {
        case token, device, user
        case serverNode = "server_node"
    }
}

public struct UserInfo: Codable, Sendable, Equatable {
    public var name: String
    public var role: Role
    public var branch: String?

    public init(name: String, role: Role, branch: String?) {
        self.name = name
        self.role = role
        self.branch = branch
    }
}

public enum Role: String, Codable, Sendable, CaseIterable {
    case manager, supervisor, province, admin
    /// A branch server enrolled at the provincial server: it holds its branch.
    case branch
}

/// The documented bounds of one push (Protocol/SYNC.md, "Limits"), checked
/// while it is read.
public struct SyncRequestLimits: Sendable {
    public var maxMutations = 1_000
    public var maxChanges = 100_000
    /// Longest string read (ids, field names, values), in characters: four
    /// times a value's limit, so a value written by an older version that is
    /// merely over `RecordLimits.maxTextLength` is refused on its own (and
    /// stays in its outbox with the reason) instead of blocking the whole push.
    public var maxStringLength = 4 * RecordLimits.maxTextLength

    public init() {}
}

/// `POST /v1/sync`: push local mutations and pull what is new, in one round trip.
public struct SyncRequest: Codable, Sendable, Equatable {
    /// The last server sequence number this replica has applied (0 at first).
    public var cursor: Int64
    public var mutations: [Mutation]
    /// The client's wall clock (ms since the epoch) when it sent the request.
    public var clientTime: UInt64
    /// Upper bounds of the page the client wants back; 0 asks for none (a push only).
    public var maxChanges: Int?
    /// The last outbox counter of the request this one follows, sent before that
    /// request's answer arrived: the server applies this one only after that one
    /// (`PushOrder`). Nil: no order asked for (one request in flight).
    public var follows: UInt64?
    /// How many mutations the client's outbox holds when it sends this
    /// (freshness: what a device still has to deliver), if it says.
    public var pending: Int?
    /// From a branch server: the freshness of the devices below it.
    public var below: FreshnessReport?
    /// The signed pages that vouch for the mutations (`SignedPage`): a device's own, and those a server relays.
    public var signed: [SignedPage] = []
    /// The server's incarnation the device last synced with (`SyncResponse.incarnation`): a server that
    /// has another (restored from a backup, or made anew) refuses the request with `server_restored`
    /// before storing anything, so the device re-offers what the server lost. Nil: not known yet.
    public var incarnation: String?
    /// From a branch server only: its mutations are offered again because the province lacks what they
    /// wrote (found by comparing digests), so the province merges them again even where it marked them
    /// applied (a record deleted there by hand, a bug). Merging is idempotent: what it holds is unchanged.
    public var reapply = false

    public init(cursor: Int64, mutations: [Mutation], clientTime: UInt64, maxChanges: Int? = nil, follows: UInt64? = nil,
                pending: Int? = nil, below: FreshnessReport? = nil, signed: [SignedPage] = [], incarnation: String? = nil) {
        self.signed = signed
        self.incarnation = incarnation
        self.cursor = cursor
        self.mutations = mutations
        self.clientTime = clientTime
        self.maxChanges = maxChanges
        self.follows = follows
        self.pending = pending
        self.below = below
    }

    enum CodingKeys: String, CodingKey {
        case cursor, mutations, pending, below, follows, signed, incarnation, reapply
        case clientTime = "client_time"
        case maxChanges = "max_changes"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(cursor: try container.decode(Int64.self, forKey: .cursor), mutations: try container.decode([Mutation].self, forKey: .mutations),
                  clientTime: try container.decode(UInt64.self, forKey: .clientTime),
                  maxChanges: try container.decodeIfPresent(Int.self, forKey: .maxChanges),
                  follows: try container.decodeIfPresent(UInt64.self, forKey: .follows),
                  pending: try container.decodeIfPresent(Int.self, forKey: .pending),
                  below: try container.decodeIfPresent(FreshnessReport.self, forKey: .below),
                  signed: try container.decodeIfPresent([SignedPage].self, forKey: .signed) ?? [],
                  incarnation: try container.decodeIfPresent(String.self, forKey: .incarnation))
        reapply = try container.decodeIfPresent(Bool.self, forKey: .reapply) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(cursor, forKey: .cursor)
        try container.encode(mutations, forKey: .mutations)
        try container.encode(clientTime, forKey: .clientTime)
        try container.encodeIfPresent(maxChanges, forKey: .maxChanges)
        try container.encodeIfPresent(follows, forKey: .follows)
        try container.encodeIfPresent(pending, forKey: .pending)
        try container.encodeIfPresent(below, forKey: .below)
        if !signed.isEmpty { try container.encode(signed, forKey: .signed) }
        try container.encodeIfPresent(incarnation, forKey: .incarnation)
        if reapply { try container.encode(reapply, forKey: .reapply) }
    }
}

public struct MutationID: Codable, Sendable, Hashable {
    public var origin: NodeID
    public var counter: UInt64

    public init(origin: NodeID, counter: UInt64) {
        self.origin = origin
        self.counter = counter
    }
}

public struct Rejection: Codable, Sendable, Equatable {
    public var origin: NodeID
    public var counter: UInt64
    /// What is wrong, for a person, in English: "faults.status: 'x' is not a status; …".
    public var reason: String
    /// The same reason as a text key and its values (`reason_text`), for a client that speaks its
    /// reader's language; absent where the server has no key for it (a client shows `reason`).
    public var text: ReasonText?

    public init(origin: NodeID, counter: UInt64, reason: String, text: ReasonText? = nil) {
        self.origin = origin
        self.counter = counter
        self.reason = reason
        self.text = text
    }

    enum CodingKeys: String, CodingKey {
        case origin, counter, reason, text = "reason_text"
    }
}

/// A message as a key of FieldSync's text tables and the values of its `{placeholders}`
/// (Protocol/SYNC.md, "Refused mutations"). A `table` value names a record kind, `field` a field of it.
public struct ReasonText: Codable, Sendable, Equatable {
    public var key: String
    public var values: [String: String]

    /// Bounds a client keeps to: a text out of them is ignored (the English reason stands). A key and a
    /// value's name are 1 to 64 bytes of `a-z 0-9 . _ -`; a value at most 1,000 Unicode scalars.
    public static let maxKeyLength = 64
    public static let maxValues = 16
    public static let maxValueScalars = 1_000

    public var isWithinBounds: Bool {
        Self.isName(key) && values.count <= Self.maxValues
            && values.allSatisfy { Self.isName($0.key) && $0.value.unicodeScalars.count <= Self.maxValueScalars }
    }

    static func isName(_ text: String) -> Bool {
        (1...maxKeyLength).contains(text.utf8.count)
            && text.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
    }

    public init(key: String, values: [String: String] = [:]) {
        self.key = key
        self.values = values
    }
}

public struct SyncResponse: Codable, Sendable, Equatable {
    /// Mutations now durable on the server (including ones it already had).
    public var accepted: [MutationID]
    public var rejected: [Rejection]
    /// Changes in the client's scope after its cursor, in sequence order
    /// (in JSON: `records`, runs of one record's changes with one stamp).
    public var changes: [FieldChange]
    /// The cursor to send next time; store it with the changes, in one transaction.
    public var cursor: Int64
    /// More changes wait: sync again.
    public var more: Bool
    /// The server's clock (ms): the client's offset is `serverTime - clientTime` (± half the round trip).
    public var serverTime: UInt64
    /// Customers whose files left the device's scope (a handover, a branch
    /// move): the device drops each file once nothing it typed on it waits to be sent.
    public var left: [String]
    /// The device's own mutations a branch server accepted and its provincial
    /// server later refused: back into the device's outbox, with the reason.
    public var returned: [Returned]

    public struct Returned: Codable, Sendable, Equatable {
        public var mutation: Mutation
        public var reason: String

        public init(mutation: Mutation, reason: String) {
            self.mutation = mutation
            self.reason = reason
        }
    }

    /// The server's incarnation: an id of its history, new when it is made and whenever it is
    /// restored from a backup. The device keeps it and sends it back (`SyncRequest.incarnation`).
    public var incarnation: String?

    /// What a supervisor decided about this device's actions refused in this answer (`rejected`):
    /// the device applies each to its outbox (issue 28, acting from the inbox). Omitted when empty,
    /// so an older device, which skips unknown members, is unaffected.
    public var instructions: [Instruction] = []

    /// A supervisor's decision about one refused action of the device.
    public struct Instruction: Codable, Sendable, Equatable {
        public enum Action: String, Codable, Sendable, CaseIterable {
            /// Take the action out of the outbox for good, kept with the note as its reason.
            case discard
            /// Hand it back to its writer with a note: it stays refused in the outbox, the note shown beside it.
            case note
        }

        public var counter: UInt64
        public var action: Action
        /// The supervisor's words (at most `maxNoteLength` characters).
        public var note: String
        /// Who decided: "Sue (supervisor)".
        public var by: String
        /// When, by the server's clock (ms).
        public var at: UInt64

        public init(counter: UInt64, action: Action, note: String, by: String, at: UInt64) {
            (self.counter, self.action, self.note, self.by, self.at) = (counter, action, note, by, at)
        }

        public static let maxNoteLength = 1_000
    }

    /// Record kinds the answer's changes named that this version does not know (a newer server):
    /// their changes were skipped, not fatal (`Replica.noteUnknownContent`). Never encoded.
    public var unknownKinds: [String] = []

    /// What the answer carries that this version does not know: the kinds the reader passed over,
    /// and fields, as "kind.field", that the merge passes over; at most 16 names.
    public var unknownContent: [String] {
        var names = unknownKinds
        // Read on every page a device stores: a record's fields come in schema order, the next one is tried before hashing.
        var table: RecordKind?, hint = 0
        for change in changes {
            if change.table != table { (table, hint) = (change.table, 0) }
            if let index = change.table.schema.index(of: change.field, hint: hint) {
                hint = index + 1
                continue
            }
            let name = "\(change.table.rawValue).\(change.field.prefix(64))"
            if !names.contains(name), names.count < 16 { names.append(name) }
        }
        return names
    }

    public init(accepted: [MutationID], rejected: [Rejection], changes: [FieldChange], cursor: Int64, more: Bool, serverTime: UInt64,
                left: [String] = [], returned: [Returned] = [], incarnation: String? = nil) {
        self.incarnation = incarnation
        self.accepted = accepted
        self.rejected = rejected
        self.changes = changes
        self.cursor = cursor
        self.more = more
        self.serverTime = serverTime
        self.left = left
        self.returned = returned
    }

    enum CodingKeys: String, CodingKey {
        case accepted, rejected, records, cursor, more, left, returned, incarnation, instructions
        case serverTime = "server_time"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        accepted = try container.decode([MutationID].self, forKey: .accepted)
        rejected = try container.decode([Rejection].self, forKey: .rejected)
        changes = RecordChanges.changes(try container.decode([RecordChanges].self, forKey: .records))
        cursor = try container.decode(Int64.self, forKey: .cursor)
        more = try container.decode(Bool.self, forKey: .more)
        serverTime = try container.decode(UInt64.self, forKey: .serverTime)
        left = try container.decodeIfPresent([String].self, forKey: .left) ?? []
        returned = try container.decodeIfPresent([Returned].self, forKey: .returned) ?? []
        incarnation = try container.decodeIfPresent(String.self, forKey: .incarnation)
        // An instruction this version cannot read (a newer server's action) is passed over, as `WireJSON` does.
        instructions = (try container.decodeIfPresent([Passable<Instruction>].self, forKey: .instructions) ?? []).compactMap(\.value)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(accepted, forKey: .accepted)
        try container.encode(rejected, forKey: .rejected)
        try container.encode(RecordChanges.grouping(changes), forKey: .records)
        try container.encode(cursor, forKey: .cursor)
        try container.encode(more, forKey: .more)
        try container.encode(serverTime, forKey: .serverTime)
        try container.encode(left, forKey: .left)
        try container.encode(returned, forKey: .returned)
        try container.encodeIfPresent(incarnation, forKey: .incarnation)
        if !instructions.isEmpty { try container.encode(instructions, forKey: .instructions) }
    }
}

/// An element of a list that is passed over, not fatal, when it cannot be read.
struct Passable<Value: Decodable>: Decodable {
    let value: Value?
    init(from decoder: any Decoder) throws { value = try? Value(from: decoder) }
}

/// `POST /v1/inbox/refused`: a supervisor's decision about one action the server refused from a
/// device of their branch. It reaches the device with its next sync that sends the action again.
public struct RefusedActionDecision: Codable, Sendable, Equatable {
    /// The device's node (16 hex digits), as the inbox names it.
    public var node: NodeID
    public var counter: UInt64
    public var action: SyncResponse.Instruction.Action
    /// Why (for a discard, kept as its reason) or what to correct (for a note); 1 to 1,000 characters.
    public var note: String

    public init(node: NodeID, counter: UInt64, action: SyncResponse.Instruction.Action, note: String) {
        (self.node, self.counter, self.action, self.note) = (node, counter, action, note)
    }
}

/// What a branch server reports up about the laptops below it (`SyncRequest.below`),
/// so the province knows up to when each branch is complete.
public struct FreshnessReport: Codable, Sendable, Equatable {
    /// The oldest last sync of the devices below (ms), when none has work waiting; nil otherwise.
    public var completeUpTo: UInt64?
    public var devices: Int
    public var pending: Int
    public var notSeenForThreeDays: Int
    /// Who writes under the nodes of the devices below (the branch server's directory), so the
    /// province names the writers of relayed work (`history`, conflicts); sent when it changed.
    /// The province keeps a name only for a node this branch server relays.
    public var names: [Directory.Entry] = []

    public init(completeUpTo: UInt64?, devices: Int, pending: Int, notSeenForThreeDays: Int, names: [Directory.Entry] = []) {
        self.completeUpTo = completeUpTo
        self.devices = devices
        self.pending = pending
        self.notSeenForThreeDays = notSeenForThreeDays
        self.names = names
    }

    /// Names one report carries at most, and the characters of a person's or device's name kept.
    public static let maxNames = 5_000
    public static let maxNameLength = 200

    /// A name as it is reported and kept: control and format characters (line breaks, a
    /// right-to-left override) dropped, spaces trimmed, at most `maxNameLength` code points; nil
    /// if nothing is left. A branch server sends only names cleaned so (a name enrolled before
    /// today's checks cannot get its whole report refused), and the province keeps only those.
    public static func cleanName(_ name: String) -> String? {
        let kept = Array(name.unicodeScalars.filter { ![.control, .format].contains($0.properties.generalCategory) })
        guard let first = kept.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = kept.lastIndex(where: { !$0.properties.isWhitespace }) else { return nil }
        var bounded = String.UnicodeScalarView()
        bounded.append(contentsOf: kept[first...last].prefix(maxNameLength))
        return String(bounded)
    }

    enum CodingKeys: String, CodingKey {
        case devices, pending, names
        case completeUpTo = "complete_up_to"
        case notSeenForThreeDays = "not_seen_for_3_days"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        completeUpTo = try container.decodeIfPresent(UInt64.self, forKey: .completeUpTo)
        devices = try container.decode(Int.self, forKey: .devices)
        pending = try container.decode(Int.self, forKey: .pending)
        notSeenForThreeDays = try container.decode(Int.self, forKey: .notSeenForThreeDays)
        names = try container.decodeIfPresent([Directory.Entry].self, forKey: .names) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(completeUpTo, forKey: .completeUpTo)
        try container.encode(devices, forKey: .devices)
        try container.encode(pending, forKey: .pending)
        try container.encode(notSeenForThreeDays, forKey: .notSeenForThreeDays)
        if !names.isEmpty { try container.encode(names, forKey: .names) }
    }
}

/// `GET /v1/nodes`: a device below this server and how fresh its data is.
public struct NodeInfo: Codable, Sendable, Equatable {
    public var device: String
    public var user: String
    public var role: Role
    public var branch: String?
    public var node: NodeID
    public var name: String
    /// Server clock times, ms since the epoch.
    public var enrolledAt: UInt64
    /// When it last synced (to the minute), if ever.
    public var lastSeen: UInt64?
    /// What it reported as waiting in its outbox at its last sync.
    public var pending: Int?
    public var revokedAt: UInt64?
    /// How many of its actions this server refused at its latest push that carried any, the first
    /// one's reason, and when (absent: none refused).
    public var refused: Int?
    public var refusedReason: String?
    public var refusedAt: UInt64?

    public init(device: String, user: String, role: Role, branch: String?, node: NodeID, name: String, enrolledAt: UInt64,
                lastSeen: UInt64?, pending: Int?, revokedAt: UInt64?, refused: Int? = nil, refusedReason: String? = nil, refusedAt: UInt64? = nil) {
        self.device = device
        self.user = user
        self.role = role
        self.branch = branch
        self.node = node
        self.name = name
        self.enrolledAt = enrolledAt
        self.lastSeen = lastSeen
        self.pending = pending
        self.revokedAt = revokedAt
        self.refused = refused
        self.refusedReason = refusedReason
        self.refusedAt = refusedAt
    }

    enum CodingKeys: String, CodingKey {
        case device, user, role, branch, node, name, pending, refused
        case enrolledAt = "enrolled_at"
        case lastSeen = "last_seen"
        case revokedAt = "revoked_at"
        case refusedReason = "refused_reason"
        case refusedAt = "refused_at"
    }
}

/// `GET /v1/directory`: who writes under each node a device may meet in its
/// records, so a conflict names a person and a laptop instead of a node id.
public struct Directory: Codable, Sendable, Equatable {
    public struct Entry: Codable, Sendable, Equatable {
        public var node: NodeID
        /// The person the device is enrolled for.
        public var user: String
        /// The device's name (its host name at enrolment), e.g. "li-wei-thinkpad".
        public var device: String

        public init(node: NodeID, user: String, device: String) {
            self.node = node
            self.user = user
            self.device = device
        }
    }

    public var nodes: [Entry]

    public init(nodes: [Entry]) { self.nodes = nodes }
}

/// `POST /v1/dashboard/link`: a one-time login link to the dashboard.
public struct DashboardLink: Codable, Sendable {
    /// Path and query to open on the server, e.g. `/dashboard/login?token=…`.
    public var path: String
    public var expiresInSeconds: Int

    public init(path: String, expiresInSeconds: Int) {
        self.path = path
        self.expiresInSeconds = expiresInSeconds
    }

    enum CodingKeys: String, CodingKey {
        case path
        case expiresInSeconds = "expires_in_seconds"
    }
}

/// The answer to `POST /v1/inbox/refused`: the refused action with the decision now stored.
public struct RefusedActionAnswer: Codable, Sendable, Equatable {
    public var node: NodeID
    public var counter: UInt64
    /// Why the server refused it.
    public var reason: String
    /// What it wrote: "visit 1a2b3c4d (customer, at, summary)".
    public var about: String
    public var decision: SyncResponse.Instruction

    public init(node: NodeID, counter: UInt64, reason: String, about: String, decision: SyncResponse.Instruction) {
        (self.node, self.counter, self.reason, self.about, self.decision) = (node, counter, reason, about, decision)
    }
}

/// The JSON body of every error response: a stable code and a sentence for a person.
public struct ErrorBody: Codable, Sendable, Equatable {
    public var error: String
    public var message: String
    /// For `clock_skew`: the server's clock, so the client can correct its stamps and retry.
    public var serverTime: UInt64?
    /// For `server_restored`: the server's incarnation now, and the last number of its change log.
    public var incarnation: String?
    public var head: Int64?
    /// For `upgrade_required`: the oldest protocol version the server serves.
    public var needed: Int?

    public init(error: String, message: String, serverTime: UInt64? = nil, incarnation: String? = nil, head: Int64? = nil, needed: Int? = nil) {
        self.error = error
        self.message = message
        self.serverTime = serverTime
        self.incarnation = incarnation
        self.head = head
        self.needed = needed
    }

    enum CodingKeys: String, CodingKey {
        case error, message, incarnation, head, needed
        case serverTime = "server_time"
    }
}

public enum ErrorCode {
    public static let badRequest = "bad_request"
    public static let unauthorized = "unauthorized"
    public static let deviceRevoked = "device_revoked"
    public static let forbidden = "forbidden"
    public static let codeInvalid = "code_invalid"
    public static let codeExpired = "code_expired"
    public static let codeUsed = "code_used"
    public static let nodeTaken = "node_taken"
    public static let clockSkew = "clock_skew"
    /// The server's history is not the one the device synced with (restored from a backup, or made
    /// anew), or is behind the device's cursor: nothing of the request was stored; the device starts
    /// again from the beginning of the log and offers back its own work (Protocol/SYNC.md).
    public static let serverRestored = "server_restored"
    /// The request's protocol version (`FieldSync-Protocol`) is older than the server serves;
    /// `needed` names the oldest it serves. Nothing was stored: upgrade the client.
    public static let upgradeRequired = "upgrade_required"
    public static let tooLarge = "too_large"
    public static let notFound = "not_found"
    public static let methodNotAllowed = "method_not_allowed"
    public static let internalError = "internal"
    /// The server's disk is full (or its data folder read-only): nothing of the request was stored.
    public static let storageFull = "storage_full"
    /// The server is doing as much of this kind of work as it allows at once (snapshots): try again later.
    public static let busy = "busy"
    /// A push sent ahead (`follows`) whose predecessor was refused, never arrived or
    /// took too long: nothing of it was stored; send it again after the one it follows.
    public static let outOfOrder = "out_of_order"
}

/// A server's incarnation: the id of its history (`SyncResponse.incarnation`).
public enum Incarnation {
    /// Longest incarnation a request may name (a server makes 32 hex characters).
    public static let maxLength = 64

    /// 1 to `maxLength` lowercase hex digits: what servers make (this, and PostgreSQL's md5).
    public static func isValid(_ text: String) -> Bool {
        (1...maxLength).contains(text.utf8.count) && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// A new incarnation: 128 random bits as hex.
    public static func make() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in String(generator.next() as UInt64, radix: 16).leftPadded(to: 16) }.joined()
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}

/// Protocol versions (Protocol/SYNC.md, "Versions"). Every request names the version its
/// client speaks in the `FieldSync-Protocol` header, every answer the server's; a server
/// refuses a version older than it serves with `upgrade_required`, before anything else.
public enum ProtocolVersion {
    public static let header = "FieldSync-Protocol"
    /// This build's version. 1: the protocol before the header; 2: server incarnations (`server_restored`).
    public static let current = 2
    /// The oldest version a server of this build serves.
    public static let oldestServed = 1
    /// A request without the header comes from a client older than the header: version 1.
    public static let unstated = 1
    /// The most a header may say (anything larger is not a version this protocol will reach).
    public static let maximum = 1_000_000

    /// The version a header value states, or nil when it is not a version (1 to `maximum`, decimal).
    public static func parse(_ text: String) -> Int? {
        guard (1...7).contains(text.utf8.count), text.utf8.allSatisfy({ (48...57).contains($0) }), let value = Int(text),
              (1...maximum).contains(value) else { return nil }
        return value
    }
}
