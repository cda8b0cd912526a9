import FieldSyncModel

/// Fast JSON for the two bulk messages, sync requests and responses, which
/// carry up to hundreds of thousands of field changes. Foundation's Codable
/// JSON costs more than the SQLite work around it at that size; the other
/// messages use Codable. Both forms are the same JSON (a test checks it).
public enum WireJSON {
    // MARK: Writing

    /// A sync request whose mutations are already JSON (as the outbox keeps them).
    public static func syncRequest(cursor: Int64, clientTime: UInt64, maxChanges: Int?, follows: UInt64? = nil, pending: Int? = nil,
                                   below: FreshnessReport? = nil, signed: [SignedPage] = [], mutationBodies: [[UInt8]]) -> [UInt8] {
        syncRequestStart(mutationBodies: mutationBodies)
            + syncRequestEnd(cursor: cursor, clientTime: clientTime, maxChanges: maxChanges, follows: follows, pending: pending, below: below,
                             signed: signed)
    }

    /// A sync request's first part, its mutations: the bulk, which the client prepares (and
    /// compresses) while the answer before it is on its way. `syncRequestEnd` closes it with
    /// what that answer decides (the cursor, the clock).
    public static func syncRequestStart(mutationBodies: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 + mutationBodies.reduce(0) { $0 + $1.count + 1 })
        out.append(contentsOf: #"{"mutations":["#.utf8)
        for (index, body) in mutationBodies.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: body)
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    public static func syncRequestEnd(cursor: Int64, clientTime: UInt64, maxChanges: Int?, follows: UInt64? = nil, pending: Int? = nil,
                                      below: FreshnessReport? = nil, signed: [SignedPage] = []) -> [UInt8] {
        var out: [UInt8] = []
        out.append(contentsOf: #","cursor":"#.utf8)
        out.append(contentsOf: String(cursor).utf8)
        out.append(contentsOf: #","client_time":"#.utf8)
        out.append(contentsOf: String(clientTime).utf8)
        if let maxChanges {
            out.append(contentsOf: #","max_changes":"#.utf8)
            out.append(contentsOf: String(maxChanges).utf8)
        }
        if let follows {
            out.append(contentsOf: #","follows":"#.utf8)
            out.append(contentsOf: String(follows).utf8)
        }
        if let pending {
            out.append(contentsOf: #","pending":"#.utf8)
            out.append(contentsOf: String(pending).utf8)
        }
        if let below {
            out.append(contentsOf: #","below":{"devices":\#(below.devices),"pending":\#(below.pending),"not_seen_for_3_days":\#(below.notSeenForThreeDays),"complete_up_to":"#.utf8)
            out.append(contentsOf: (below.completeUpTo.map { String($0) } ?? "null").utf8)
            out.append(UInt8(ascii: "}"))
        }
        if !signed.isEmpty {
            out.append(contentsOf: #","signed":["#.utf8)
            for (index, page) in signed.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: page.jsonBytes)
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    public static func encode(_ response: SyncResponse) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128 + response.changes.count * 64)
        out.append(contentsOf: #"{"accepted":["#.utf8)
        for (index, id) in response.accepted.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendID(id.origin, id.counter, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #"],"rejected":["#.utf8)
        for (index, rejection) in response.rejected.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            appendID(rejection.origin, rejection.counter, to: &out)
            out.append(contentsOf: #","reason":"#.utf8)
            JSONText.appendString(rejection.reason, to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: #"],"records":"#.utf8)
        RecordChanges.appendJSON(response.changes, to: &out)
        out.append(contentsOf: #","cursor":"#.utf8)
        out.append(contentsOf: String(response.cursor).utf8)
        out.append(contentsOf: #","more":"#.utf8)
        out.append(contentsOf: (response.more ? "true" : "false").utf8)
        out.append(contentsOf: #","server_time":"#.utf8)
        out.append(contentsOf: String(response.serverTime).utf8)
        out.append(contentsOf: #","left":["#.utf8)
        for (index, customer) in response.left.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendString(customer, to: &out)
        }
        out.append(contentsOf: #"],"returned":["#.utf8)
        for (index, returned) in response.returned.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"reason":"#.utf8)
            JSONText.appendString(returned.reason, to: &out)
            out.append(contentsOf: #","mutation":"#.utf8)
            out.append(contentsOf: returned.mutation.jsonBytes())
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: "]}".utf8)
        return out
    }

    /// `{"origin":"…","counter":N` — the object is left open for more keys.
    private static func appendID(_ origin: NodeID, _ counter: UInt64, to out: inout [UInt8]) {
        out.append(contentsOf: #"{"origin":""#.utf8)
        out.append(contentsOf: origin.description.utf8)
        out.append(contentsOf: #"","counter":"#.utf8)
        out.append(contentsOf: String(counter).utf8)
    }

    // MARK: Reading

    public struct DecodingError: Error, CustomStringConvertible {
        public let description: String
    }

    /// A message within the JSON grammar but over a documented size limit.
    public struct LimitExceeded: Error, CustomStringConvertible {
        public let description: String
    }

    // The two bulk messages are read in one pass straight into their types,
    // without an intermediate value tree: a first sync carries a million changes.

    /// Reads a push, refusing it as soon as it passes `limits` (before it is
    /// held in memory whole): `LimitExceeded` for counts, `DecodingError` for the rest.
    public static func decodeSyncRequest(_ bytes: some Collection<UInt8>, limits: SyncRequestLimits = SyncRequestLimits()) throws -> SyncRequest {
        try JSONReader.read(bytes, maxStringLength: limits.maxStringLength) { parser in
            parser.checksRecords = true
            var cursor: Int64?, clientTime: UInt64?, maxChanges: Int?, follows: UInt64?, pending: Int?, below: FreshnessReport?, mutations: [Mutation]?
            var signed: [SignedPage] = []
            try parser.object("request") { parser, key in
                switch key {
                case "cursor":
                    let value = try parser.int("cursor")
                    guard value >= 0 else { throw DecodingError(description: "cursor must be a non-negative whole number") }
                    cursor = value
                case "client_time": clientTime = try parser.unsigned("client_time")
                case "pending":
                    let value = try parser.int("pending")
                    guard value >= 0 else { throw DecodingError(description: "pending must be a non-negative whole number") }
                    pending = Int(clamping: value)
                case "below":
                    var devices: Int?, waiting: Int?, stale: Int?, complete: UInt64?
                    try parser.object("below") { parser, key in
                        func count(_ name: String) throws -> Int { Int(clamping: try parser.unsigned(name)) }
                        switch key {
                        case "devices": devices = try count("devices")
                        case "pending": waiting = try count("pending")
                        case "not_seen_for_3_days": stale = try count("not_seen_for_3_days")
                        case "complete_up_to": complete = try parser.nullable { try $0.unsigned("complete_up_to") }
                        default: try parser.skip()
                        }
                    }
                    below = FreshnessReport(completeUpTo: complete, devices: try required(devices, "devices"),
                                            pending: try required(waiting, "pending"), notSeenForThreeDays: try required(stale, "not_seen_for_3_days"))
                case "max_changes":
                    maxChanges = try parser.nullable { parser in
                        let value = try parser.int("max_changes")
                        guard value >= 0 else { throw DecodingError(description: "max_changes must be a non-negative whole number (0: push only)") }
                        return Int(clamping: value)
                    }
                case "follows":
                    follows = try parser.nullable { parser in
                        let value = try parser.unsigned("follows")
                        // An outbox counter, as a mutation's (1 to Int64.max).
                        guard (1...UInt64(Int64.max)).contains(value) else { throw DecodingError(description: "follows must be a counter from 1 to \(Int64.max)") }
                        return value
                    }
                case "mutations":
                    var list: [Mutation] = []
                    var changes = 0
                    try parser.array("mutations") { parser in
                        guard list.count < limits.maxMutations else {
                            throw LimitExceeded(description: "a push holds at most \(limits.maxMutations) mutations; send the rest in the next request")
                        }
                        let mutation = try parser.mutation()
                        changes += mutation.changes.count
                        guard changes <= limits.maxChanges else {
                            throw LimitExceeded(description: "a push holds at most \(limits.maxChanges) field changes; send the rest in the next request")
                        }
                        list.append(mutation)
                    }
                    mutations = list
                case "signed":
                    try parser.array("signed") { parser in
                        guard signed.count < SignedPage.maxPerRequest else {
                            throw LimitExceeded(description: "a push carries at most \(SignedPage.maxPerRequest) signed pages")
                        }
                        signed.append(try SignedPage.read(&parser))
                    }
                default: try parser.skip()
                }
            }
            return SyncRequest(cursor: try required(cursor, "cursor"), mutations: try required(mutations, "mutations"),
                               clientTime: try required(clientTime, "client_time"), maxChanges: maxChanges, follows: follows,
                               pending: pending, below: below, signed: signed)
        }
    }

    /// One mutation as the outbox keeps it (its wire form).
    public static func decodeMutation(_ bytes: some Collection<UInt8>) throws -> Mutation {
        try JSONReader.read(bytes) { parser in try parser.mutation() }
    }

    public static func decodeSyncResponse(_ bytes: some Collection<UInt8>) throws -> SyncResponse {
        try JSONReader.read(bytes) { parser in
            var accepted: [MutationID]?, rejected: [Rejection]?, changes: [FieldChange]?
            var cursor: Int64?, more: Bool?, serverTime: UInt64?, left: [String] = [], returned: [SyncResponse.Returned] = []
            try parser.object("response") { parser, key in
                switch key {
                case "accepted":
                    var list: [MutationID] = []
                    try parser.array("accepted") { parser in
                        let (origin, counter, _) = try parser.mutationID("accepted", reason: false)
                        list.append(MutationID(origin: origin, counter: counter))
                    }
                    accepted = list
                case "rejected":
                    var list: [Rejection] = []
                    try parser.array("rejected") { parser in
                        let (origin, counter, reason) = try parser.mutationID("rejected", reason: true)
                        list.append(Rejection(origin: origin, counter: counter, reason: try required(reason, "reason")))
                    }
                    rejected = list
                case "records": changes = try parser.records()
                case "changes": changes = try parser.changeObjects()
                case "cursor": cursor = try parser.int("cursor")
                case "more": more = try parser.bool("more")
                case "server_time": serverTime = try parser.unsigned("server_time")
                case "left": try parser.array("left") { left.append(try $0.string("left")) }
                case "returned":
                    try parser.array("returned") { parser in
                        var mutation: Mutation?, reason: String?
                        try parser.object("returned") { parser, key in
                            switch key {
                            case "mutation": mutation = try parser.mutation()
                            case "reason": reason = try parser.string("reason")
                            default: try parser.skip()
                            }
                        }
                        returned.append(SyncResponse.Returned(mutation: try required(mutation, "mutation"), reason: try required(reason, "reason")))
                    }
                default: try parser.skip()
                }
            }
            return SyncResponse(accepted: try required(accepted, "accepted"), rejected: try required(rejected, "rejected"),
                                changes: try required(changes, "records"), cursor: try required(cursor, "cursor"),
                                more: try required(more, "more"), serverTime: try required(serverTime, "server_time"), left: left,
                                returned: returned)
        }
    }

    static func required<T>(_ value: T?, _ name: String) throws -> T {
        guard let value else { throw DecodingError(description: "\(name) is missing") }
        return value
    }
}

extension JSONReader.Parser {
    mutating func mutation() throws -> Mutation {
        var origin: NodeID?, counter: UInt64?, user: String?, changes: [FieldChange]?
        try object("mutation") { parser, key in
            switch key {
            case "origin": origin = try parser.node("origin")
            case "counter":
                // Counters are SQLite integers on both sides.
                let value = try parser.unsigned("counter")
                guard value >= 1, value <= UInt64(Int64.max) else { throw WireJSON.DecodingError(description: "counter must be 1 to \(Int64.max)") }
                counter = value
            case "user": user = try parser.nullable { try $0.string("user") }
            case "records": changes = try parser.records()
            case "changes": changes = try parser.changeObjects()
            default: try parser.skip()
            }
        }
        let mutation = Mutation(origin: try WireJSON.required(origin, "origin"), counter: try WireJSON.required(counter, "counter"),
                                user: user, changes: try WireJSON.required(changes, "records"))
        if checksRecords, mutation.changes.count > RecordLimits.maxChangesPerRecord {
            var perRecord: [RecordKey: Int] = [:]
            for change in mutation.changes {
                let key = RecordKey(table: change.table, record: change.record)
                perRecord[key, default: 0] += 1
                guard perRecord[key, default: 0] <= RecordLimits.maxChangesPerRecord else {
                    throw WireJSON.LimitExceeded(description: "mutation \(mutation.counter) changes \(change.table.noun) \(change.record.prefix(8)) more than \(RecordLimits.maxChangesPerRecord) times")
                }
            }
        }
        return mutation
    }

    /// `changes`: one object per field change, the form before `records`
    /// (outboxes written by older versions, answers from older servers).
    mutating func changeObjects() throws -> [FieldChange] {
        var changes: [FieldChange] = []
        try array("changes") { changes.append(try $0.change()) }
        return changes
    }

    /// `[{"table":…,"record":…,"node":…,"hlc":…,"fields":[[field, value, base], …]}, …]`
    /// (`RecordChanges`), as field changes in order.
    mutating func records() throws -> [FieldChange] {
        var changes: [FieldChange] = []
        var entries: [(field: String, value: FieldValue, base: UInt64)] = []
        try array("records") { parser in
            var table: RecordKind?, record: String?, node: NodeID?, hlc: UInt64?
            var hasFields = false
            entries.removeAll(keepingCapacity: true)
            try parser.object("record changes") { parser, key in
                switch key {
                case "table":
                    let name = try parser.string("table")
                    guard let kind = RecordKind(rawValue: name) else { throw WireJSON.DecodingError(description: "unknown table '\(name)' in a change") }
                    table = kind
                case "record": record = try parser.recordID()
                case "node": node = try parser.node("node")
                case "hlc": hlc = try parser.unsigned("hlc")
                case "fields":
                    hasFields = true
                    try parser.array("fields") { entries.append(try $0.fieldEntry()) }
                default: try parser.skip()
                }
            }
            guard hasFields else { throw WireJSON.DecodingError(description: "fields is missing") }
            let (kind, id) = (try WireJSON.required(table, "table"), try WireJSON.required(record, "record"))
            let (stamp, writer) = (HLC(rawValue: try WireJSON.required(hlc, "hlc")), try WireJSON.required(node, "node"))
            for entry in entries {
                changes.append(FieldChange(table: kind, record: id, field: entry.field, value: entry.value,
                                           hlc: stamp, node: writer, base: HLC(rawValue: entry.base)))
            }
        }
        return changes
    }

    /// `[field, value, base]`.
    mutating func fieldEntry() throws -> (field: String, value: FieldValue, base: UInt64) {
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else {
            throw WireJSON.DecodingError(description: "a field entry must be [field, value, base]")
        }
        index += 1
        let field = try string("field")
        skipSpace()
        try expect(UInt8(ascii: ","))
        let value = try fieldValue()
        skipSpace()
        try expect(UInt8(ascii: ","))
        let base = try unsigned("base")
        skipSpace()
        try expect(UInt8(ascii: "]"))
        return (field, value, base)
    }

    /// The hot loop of a first sync: written out, without the closure `object` takes.
    mutating func change() throws -> FieldChange {
        var table: RecordKind?, record: String?, field: String?, value: FieldValue = .null
        var hlc: UInt64?, node: NodeID?, base: UInt64?
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { throw WireJSON.DecodingError(description: "change must be an object") }
        index += 1
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipSpace()
                let key = try keyBytes()
                skipSpace()
                try expect(UInt8(ascii: ":"))
                switch key {
                case "table":
                    let name = try string("table")
                    guard let kind = RecordKind(rawValue: name) else { throw WireJSON.DecodingError(description: "unknown table '\(name)' in a change") }
                    table = kind
                case "record": record = try recordID()
                case "field": field = try string("field")
                case "value": value = try fieldValue()
                case "hlc": hlc = try unsigned("hlc")
                case "node": node = try self.node("node")
                case "base": base = try unsigned("base")
                default: try skip()
                }
                skipSpace()
                if try next(UInt8(ascii: ","), or: UInt8(ascii: "}")) { continue }
                break
            }
        }
        return FieldChange(table: try WireJSON.required(table, "table"), record: try WireJSON.required(record, "record"),
                           field: try WireJSON.required(field, "field"), value: value,
                           hlc: HLC(rawValue: try WireJSON.required(hlc, "hlc")), node: try WireJSON.required(node, "node"),
                           base: HLC(rawValue: try WireJSON.required(base, "base")))
    }

    /// `{"origin":…,"counter":…}`, with `reason` when asked for.
    mutating func mutationID(_ name: String, reason wantsReason: Bool) throws -> (NodeID, UInt64, String?) {
        var origin: NodeID?, counter: UInt64?, reason: String?
        try object(name) { parser, key in
            switch key {
            case "origin": origin = try parser.node("origin")
            case "counter": counter = try parser.unsigned("counter")
            case "reason" where wantsReason: reason = try parser.string("reason")
            default: try parser.skip()
            }
        }
        return (try WireJSON.required(origin, "origin"), try WireJSON.required(counter, "counter"), reason)
    }

    mutating func fieldValue() throws -> FieldValue {
        skipSpace()
        guard index < bytes.count else { throw error("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "\""): return .text(try string())
        default:
            guard case .int(let number) = try number() else {
                throw WireJSON.DecodingError(description: "value must be text, a whole number or null")
            }
            return .int(number)
        }
    }

    /// Calls `body` for each key, positioned at its value.
    mutating func object(_ name: String, _ body: (inout Self, JSONReader.Key) throws -> Void) throws {
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { throw WireJSON.DecodingError(description: "\(name) must be an object") }
        index += 1
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return }
        while true {
            skipSpace()
            let key = try keyBytes()
            skipSpace()
            try expect(UInt8(ascii: ":"))
            try body(&self, key)
            skipSpace()
            if try next(UInt8(ascii: ","), or: UInt8(ascii: "}")) { continue }
            return
        }
    }

    mutating func array(_ name: String, _ body: (inout Self) throws -> Void) throws {
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "[") else { throw WireJSON.DecodingError(description: "\(name) must be an array") }
        index += 1
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return }
        while true {
            try body(&self)
            skipSpace()
            if try next(UInt8(ascii: ","), or: UInt8(ascii: "]")) { continue }
            return
        }
    }

    /// A key without escapes is compared in place; one with escapes is decoded.
    mutating func keyBytes() throws -> JSONReader.Key {
        let start = index + 1
        var probe = start
        while probe < bytes.count, bytes[probe] != UInt8(ascii: "\""), bytes[probe] != UInt8(ascii: "\\") { probe += 1 }
        if probe < bytes.count, bytes[probe] == UInt8(ascii: "\""), index < bytes.count, bytes[index] == UInt8(ascii: "\"") {
            index = probe + 1
            return JSONReader.Key(bytes: UnsafeBufferPointer(rebasing: bytes[start..<probe]), decoded: nil)
        }
        // A key is compared, never kept: no length or NUL rule applies to it.
        let (limit, kept) = (maxStringLength, keeping)
        (maxStringLength, keeping) = (.max, false)
        defer { (maxStringLength, keeping) = (limit, kept) }
        return JSONReader.Key(bytes: UnsafeBufferPointer(start: nil, count: 0), decoded: try string())
    }

    mutating func nullable<T>(_ read: (inout Self) throws -> T) throws -> T? {
        skipSpace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "n") { try literal("null"); return nil }
        return try read(&self)
    }

    /// Skips a value this reader does not know, whatever the length of its strings.
    mutating func skip() throws {
        let (limit, kept) = (maxStringLength, keeping)
        (maxStringLength, keeping) = (.max, false)
        defer { (maxStringLength, keeping) = (limit, kept) }
        _ = try value(depth: 1)
    }

    mutating func string(_ name: String) throws -> String {
        skipSpace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw WireJSON.DecodingError(description: "\(name) must be a string") }
        return try string()
    }

    mutating func int(_ name: String) throws -> Int64 {
        skipSpace()
        guard index < bytes.count, case .int(let number) = try number() else {
            throw WireJSON.DecodingError(description: "\(name) must be a whole number")
        }
        return number
    }

    mutating func unsigned(_ name: String) throws -> UInt64 {
        skipSpace()
        // Messages are built only on failure: this runs twice per change.
        func failure() -> WireJSON.DecodingError { WireJSON.DecodingError(description: "\(name) must be a non-negative whole number") }
        guard index < bytes.count else { throw failure() }
        switch try number() {
        case .int(let number) where number >= 0: return UInt64(number)
        case .unsigned(let number): return number
        default: throw failure()
        }
    }

    mutating func bool(_ name: String) throws -> Bool {
        skipSpace()
        guard index < bytes.count else { throw error("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "t"): try literal("true"); return true
        case UInt8(ascii: "f"): try literal("false"); return false
        default: throw WireJSON.DecodingError(description: "\(name) must be true or false")
        }
    }

    /// 16 hex digits, read without making a string.
    mutating func node(_ name: String) throws -> NodeID {
        skipSpace()
        func failure() -> WireJSON.DecodingError { WireJSON.DecodingError(description: "\(name) must be 16 lowercase hex digits") }
        guard index + 18 <= bytes.count, bytes[index] == UInt8(ascii: "\""), bytes[index + 17] == UInt8(ascii: "\"") else { throw failure() }
        var raw: UInt64 = 0
        for offset in 1...16 {
            let byte = bytes[index + offset]
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x61...0x66: digit = byte - 0x61 + 10
            default: throw failure()
            }
            raw = raw << 4 | UInt64(digit)
        }
        index += 18
        return NodeID(rawValue: raw)
    }
}

/// A small strict JSON parser (RFC 8259): typed readers for the sync messages
/// (`WireJSON`), and a value tree for skipping keys they do not know.
enum JSONReader {
    indirect enum Value {
        case null
        case bool(Bool)
        case int(Int64)
        case unsigned(UInt64)
        case double(Double)
        case string(String)
        case array([Value])
        case object(Object)
    }

    /// Keys in document order, looked up by a linear scan: wire objects have
    /// at most seven keys, where hashing costs more than comparing.
    struct Object {
        var pairs: [(key: String, value: Value)] = []

        subscript(key: String) -> Value? {
            for pair in pairs where pair.key == key { return pair.value }
            return nil
        }
    }

    /// An object key: its bytes in the document, or the decoded text when it had escapes.
    struct Key {
        let bytes: UnsafeBufferPointer<UInt8>
        let decoded: String?

        static func ~= (pattern: StaticString, key: Key) -> Bool {
            if let decoded = key.decoded { return decoded == pattern.description }
            guard pattern.utf8CodeUnitCount == key.bytes.count else { return false }
            return UnsafeBufferPointer(start: pattern.utf8Start, count: pattern.utf8CodeUnitCount).elementsEqual(key.bytes)
        }
    }

    /// Runs `body` on a parser over the whole document, which must hold one value.
    static func read<T>(_ bytes: some Collection<UInt8>, maxStringLength: Int = .max, _ body: (inout Parser) throws -> T) throws -> T {
        let array = Array(bytes)
        return try array.withUnsafeBufferPointer { buffer in
            var parser = Parser(bytes: buffer, maxStringLength: maxStringLength)
            let result = try body(&parser)
            parser.skipSpace()
            guard parser.index == buffer.count else { throw parser.error("trailing characters") }
            return result
        }
    }

    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        /// Reading a push: record ids must be in the documented form and a
        /// mutation may change one record at most `RecordLimits.maxChangesPerRecord` times.
        var checksRecords = false
        /// Strings of keys the reader skips are neither kept nor checked.
        var keeping = true
        /// Longest string kept, in Unicode scalars (JSON Schema's maxLength);
        /// strings of keys the reader skips are bounded by the body only.
        var maxStringLength = Int.max
        var index = 0
        /// The record id of the change read last.
        var lastRecord = ""

        func error(_ text: String) -> WireJSON.DecodingError {
            WireJSON.DecodingError(description: "invalid JSON at byte \(index): \(text)")
        }

        /// Four UTF-8 bytes per character at most; no overflow when unlimited.
        var maxStringBytes: Int {
            let (bytes, overflow) = maxStringLength.multipliedReportingOverflow(by: 4)
            return overflow ? .max : bytes
        }

        func tooLong() -> WireJSON.LimitExceeded {
            WireJSON.LimitExceeded(description: "a string at byte \(index) is over \(maxStringLength) characters")
        }

        /// Refuses a kept string over the limit: more bytes than four per
        /// character is over for certain, otherwise its characters are counted.
        func checkLength(byteCount: Int, _ text: @autoclosure () -> String) throws {
            if keeping, text().containsNUL { throw WireJSON.DecodingError(description: "a string at byte \(index) contains a NUL character") }
            guard byteCount > maxStringLength else { return }
            if byteCount > maxStringBytes || text().unicodeScalars.count > maxStringLength { throw tooLong() }
        }

        mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x0A, 0x0D, 0x09: index += 1
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws -> Value {
            guard depth < 64 else { throw error("nested too deeply") }
            skipSpace()
            guard index < bytes.count else { throw error("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var fields = Object()
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(fields) }
                while true {
                    skipSpace()
                    let key = try string()
                    skipSpace()
                    try expect(UInt8(ascii: ":"))
                    fields.pairs.append((key, try value(depth: depth + 1)))
                    skipSpace()
                    if try next(UInt8(ascii: ","), or: UInt8(ascii: "}")) { continue }
                    return .object(fields)
                }
            case UInt8(ascii: "["):
                index += 1
                var items: [Value] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                while true {
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    if try next(UInt8(ascii: ","), or: UInt8(ascii: "]")) { continue }
                    return .array(items)
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"):
                try literal("true"); return .bool(true)
            case UInt8(ascii: "f"):
                try literal("false"); return .bool(false)
            case UInt8(ascii: "n"):
                try literal("null"); return .null
            default:
                return try number()
            }
        }

        mutating func expect(_ byte: UInt8) throws {
            guard index < bytes.count, bytes[index] == byte else { throw error("expected '\(Character(Unicode.Scalar(byte)))'") }
            index += 1
        }

        /// True after `separator`, false after `end`.
        mutating func next(_ separator: UInt8, or end: UInt8) throws -> Bool {
            guard index < bytes.count else { throw error("unexpected end") }
            if bytes[index] == separator { index += 1; return true }
            if bytes[index] == end { index += 1; return false }
            throw error("expected '\(Character(Unicode.Scalar(separator)))' or '\(Character(Unicode.Scalar(end)))'")
        }

        mutating func literal(_ word: String) throws {
            for byte in word.utf8 {
                guard index < bytes.count, bytes[index] == byte else { throw error("expected \(word)") }
                index += 1
            }
        }

        mutating func number() throws -> Value {
            let start = index
            if let integer = integer() { return integer }
            index = start
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            var integral = true
            while index < bytes.count {
                let byte = bytes[index]
                if byte >= 0x30 && byte <= 0x39 { index += 1; continue }
                if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+")
                    || (byte == UInt8(ascii: "-") && index > start) {
                    integral = false; index += 1; continue
                }
                break
            }
            guard index > start else { throw error("unexpected character") }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            if integral, let number = Int64(text) { return .int(number) }
            if integral, let number = UInt64(text) { return .unsigned(number) }
            guard let number = Double(text) else { throw error("bad number") }
            // JSON Schema counts 5.0 and 5e0 as integers: read them exactly, not through a Double.
            if !integral, let exact = Self.exactInteger(text) { return exact }
            return .double(number)
        }

        /// The integer a number with a fraction or exponent stands for, when it is
        /// whole and fits 64 bits (`12.50e1` is 125), exactly; nil otherwise.
        static func exactInteger(_ text: String) -> Value? {
            var digits: [UInt8] = [], exponent = 0, negative = false
            var bytes = Substring(text).utf8[...]
            if bytes.first == UInt8(ascii: "-") { negative = true; bytes = bytes.dropFirst() }
            var fraction = false
            while let byte = bytes.first, byte != UInt8(ascii: "e"), byte != UInt8(ascii: "E") {
                bytes = bytes.dropFirst()
                if byte == UInt8(ascii: ".") { fraction = true; continue }
                guard (0x30...0x39).contains(byte) else { return nil }
                digits.append(byte - 0x30)
                if fraction { exponent -= 1 }
            }
            if !bytes.isEmpty {
                guard let written = Int(String(decoding: bytes.dropFirst(), as: UTF8.self)), abs(written) < 1_000 else { return nil }
                exponent += written
            }
            while exponent < 0, digits.last == 0 { digits.removeLast(); exponent += 1 }
            guard exponent >= 0, exponent < 40 else { return digits.allSatisfy { $0 == 0 } ? .int(0) : nil }
            var magnitude: UInt64 = 0
            for digit in digits + Array(repeating: 0, count: exponent) {
                let (times10, overflow) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, carry) = times10.addingReportingOverflow(UInt64(digit))
                guard !overflow, !carry else { return nil }
                magnitude = sum
            }
            if !negative { return magnitude <= UInt64(Int64.max) ? .int(Int64(magnitude)) : .unsigned(magnitude) }
            if magnitude <= UInt64(Int64.max) { return .int(-Int64(magnitude)) }
            return magnitude == UInt64(Int64.max) + 1 ? .int(.min) : nil
        }

        /// A plain integer read without building a string (stamps and counters
        /// are most of a sync body's numbers), or nil to take the general path.
        private mutating func integer() -> Value? {
            var negative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { negative = true; index += 1 }
            let digits = index
            var magnitude: UInt64 = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                let (times10, overflow) = magnitude.multipliedReportingOverflow(by: 10)
                let (sum, carry) = times10.addingReportingOverflow(UInt64(bytes[index] - 0x30))
                guard !overflow, !carry else { return nil }
                magnitude = sum
                index += 1
            }
            guard index > digits else { return nil }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] | 0x20 == UInt8(ascii: "e") { return nil }
            if !negative { return magnitude <= UInt64(Int64.max) ? .int(Int64(magnitude)) : .unsigned(magnitude) }
            if magnitude <= UInt64(Int64.max) { return .int(-Int64(magnitude)) }
            return magnitude == UInt64(Int64.max) + 1 ? .int(.min) : nil
        }

        private func checkRecordID() throws {
            guard checksRecords, !RecordID.isValid(lastRecord) else { return }
            throw WireJSON.DecodingError(description: "record: '\(lastRecord.prefix(40))' is not a record id (36 characters, lowercase hex in groups 8-4-4-4-12)")
        }

        /// A change's record id; one equal to the previous change's comes back as
        /// that same string, without a new allocation (a record's changes travel together).
        mutating func recordID() throws -> String {
            skipSpace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw WireJSON.DecodingError(description: "record must be a string") }
            let start = index + 1
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\"), bytes[end] >= 0x20 { end += 1 }
            if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
                let text = UnsafeBufferPointer(rebasing: bytes[start..<end])
                let same = lastRecord.utf8.count == text.count
                    && (lastRecord.utf8.withContiguousStorageIfAvailable { $0.elementsEqual(text) } ?? lastRecord.utf8.elementsEqual(text))
                index = end + 1
                if !same {
                    guard text.count <= maxStringBytes else { throw tooLong() }
                    guard let decoded = Self.validUTF8(text) else { throw error("invalid UTF-8 in string") }
                    try checkLength(byteCount: text.count, decoded)
                    lastRecord = decoded
                    try checkRecordID()
                }
                return lastRecord
            }
            lastRecord = try string()
            try checkRecordID()
            return lastRecord
        }

        /// The string these bytes spell, or nil when they are not valid UTF-8.
        /// `String(validating:as:)` looks up generic metadata on every call (a
        /// twentieth of decoding a push); decoding with repair is the fast path,
        /// and it repaired something exactly when its bytes differ from these
        /// (never for ASCII, most strings of a sync: ids, field names, dates).
        static func validUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
            var text = String(decoding: bytes, as: UTF8.self)
            if ByteScan.isASCII(bytes) { return text }
            return text.withUTF8 { ByteScan.equal($0, bytes) } ? text : nil
        }

        mutating func string() throws -> String {
            try expect(UInt8(ascii: "\""))
            let start = index
            // Fast path: no escapes.
            while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") {
                guard bytes[index] >= 0x20 else { throw error("control character in string") }
                index += 1
            }
            guard index < bytes.count else { throw error("unterminated string") }
            guard index - start <= maxStringBytes else { throw tooLong() }
            if bytes[index] == UInt8(ascii: "\"") {
                // Invalid UTF-8 is refused, never repaired into U+FFFD: a value is stored as sent or not at all.
                guard let text = Self.validUTF8(UnsafeBufferPointer(rebasing: bytes[start..<index])) else {
                    throw error("invalid UTF-8 in string")
                }
                try checkLength(byteCount: index - start, text)
                index += 1
                return text
            }
            var scalars = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                guard scalars.count <= maxStringBytes else { throw tooLong() }
                switch byte {
                case UInt8(ascii: "\""):
                    guard let text = scalars.withUnsafeBufferPointer(Self.validUTF8) else { throw error("invalid UTF-8 in string") }
                    try checkLength(byteCount: scalars.count, text)
                    return text
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { throw error("unterminated escape") }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scalars.append(escape)
                    case UInt8(ascii: "b"): scalars.append(0x08)
                    case UInt8(ascii: "f"): scalars.append(0x0C)
                    case UInt8(ascii: "n"): scalars.append(0x0A)
                    case UInt8(ascii: "r"): scalars.append(0x0D)
                    case UInt8(ascii: "t"): scalars.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xD800...0xDBFF).contains(code) {
                            try literal("\\u")
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error("bad surrogate pair") }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        }
                        guard let scalar = Unicode.Scalar(code) else { throw error("bad \\u escape") }
                        scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default: throw error("bad escape")
                    }
                default:
                    guard byte >= 0x20 else { throw error("control character in string") }
                    scalars.append(byte)
                }
            }
            throw error("unterminated string")
        }

        mutating func hex4() throws -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("short \\u escape") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                index += 1
                value <<= 4
                switch byte {
                case 0x30...0x39: value |= UInt32(byte - 0x30)
                case 0x41...0x46: value |= UInt32(byte - 0x41 + 10)
                case 0x61...0x66: value |= UInt32(byte - 0x61 + 10)
                default: throw error("bad hex digit")
                }
            }
            return value
        }
    }
}
