import FieldSyncModel

/// Reading the sync messages: each field checked and bounded as it is read, so a
/// body that passes is a request the server may act on (`SyncRequestLimits`).
extension WireJSON {
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
            var signed: [SignedPage] = [], incarnation: String?, reapply = false
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
                    var devices: Int?, waiting: Int?, stale: Int?, complete: UInt64?, names: [Directory.Entry] = []
                    try parser.object("below") { parser, key in
                        func count(_ name: String) throws -> Int { Int(clamping: try parser.unsigned(name)) }
                        switch key {
                        case "devices": devices = try count("devices")
                        case "pending": waiting = try count("pending")
                        case "not_seen_for_3_days": stale = try count("not_seen_for_3_days")
                        case "complete_up_to": complete = try parser.nullable { try $0.unsigned("complete_up_to") }
                        case "names":
                            try parser.array("names") { parser in
                                guard names.count < FreshnessReport.maxNames else {
                                    throw LimitExceeded(description: "below.names holds at most \(FreshnessReport.maxNames) names")
                                }
                                var node: NodeID?, user: String?, device: String?
                                try parser.object("names") { parser, key in
                                    switch key {
                                    case "node":
                                        let text = try parser.string("node")
                                        guard let parsed = NodeID(text) else { throw DecodingError(description: "below.names.node is 16 hex digits") }
                                        node = parsed
                                    case "user": user = try parser.string("user")
                                    case "device": device = try parser.string("device")
                                    default: try parser.skip()
                                    }
                                }
                                func bounded(_ text: String?, _ name: String) throws -> String {
                                    let text = try required(text, name)
                                    guard (1...FreshnessReport.maxNameLength).contains(text.unicodeScalars.count) else {
                                        throw DecodingError(description: "below.names.\(name) is 1 to \(FreshnessReport.maxNameLength) characters")
                                    }
                                    return text
                                }
                                names.append(Directory.Entry(node: try required(node, "node"), user: try bounded(user, "user"), device: try bounded(device, "device")))
                            }
                        default: try parser.skip()
                        }
                    }
                    below = FreshnessReport(completeUpTo: complete, devices: try required(devices, "devices"),
                                            pending: try required(waiting, "pending"), notSeenForThreeDays: try required(stale, "not_seen_for_3_days"),
                                            names: names)
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
                case "incarnation":
                    incarnation = try parser.nullable { parser in
                        let value = try parser.string("incarnation")
                        guard Incarnation.isValid(value) else {
                            throw DecodingError(description: "incarnation is 1 to \(Incarnation.maxLength) lowercase hex digits")
                        }
                        return value
                    }
                case "reapply": reapply = try parser.bool("reapply")
                default: try parser.skip()
                }
            }
            var request = SyncRequest(cursor: try required(cursor, "cursor"), mutations: try required(mutations, "mutations"),
                                      clientTime: try required(clientTime, "client_time"), maxChanges: maxChanges, follows: follows,
                                      pending: pending, below: below, signed: signed, incarnation: incarnation)
            request.reapply = reapply
            return request
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
            var incarnation: String?, instructions: [SyncResponse.Instruction] = []
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
                        let (origin, counter, reason, text) = try parser.rejection()
                        list.append(Rejection(origin: origin, counter: counter, reason: try required(reason, "reason"), text: text))
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
                case "incarnation": incarnation = try parser.nullable { try $0.string("incarnation") }
                case "instructions":
                    try parser.array("instructions") { parser in
                        var counter: UInt64?, action: SyncResponse.Instruction.Action?, note: String?, by: String?, at: UInt64?
                        var unknownAction = false
                        try parser.object("instructions") { parser, key in
                            switch key {
                            case "counter": counter = try parser.unsigned("counter")
                            case "action":
                                // An action a newer server knows and this version does not: that instruction is
                                // passed over (the action stays refused here), never the whole answer.
                                action = SyncResponse.Instruction.Action(rawValue: try parser.string("action"))
                                unknownAction = action == nil
                            case "note": note = try parser.string("note")
                            case "by": by = try parser.string("by")
                            case "at": at = try parser.unsigned("at")
                            default: try parser.skip()
                            }
                        }
                        if unknownAction { return }
                        instructions.append(SyncResponse.Instruction(counter: try required(counter, "counter"), action: try required(action, "action"),
                                                                     note: try required(note, "note"), by: try required(by, "by"), at: try required(at, "at")))
                    }
                default: try parser.skip()
                }
            }
            var response = SyncResponse(accepted: try required(accepted, "accepted"), rejected: try required(rejected, "rejected"),
                                        changes: try required(changes, "records"), cursor: try required(cursor, "cursor"),
                                        more: try required(more, "more"), serverTime: try required(serverTime, "server_time"), left: left,
                                        returned: returned, incarnation: incarnation)
            response.unknownKinds = parser.unknownKinds
            response.instructions = instructions
            return response
        }
    }

    static func required<T>(_ value: T?, _ name: String) throws -> T {
        guard let value else { throw DecodingError(description: "\(name) is missing") }
        return value
    }
}

extension JSONReader.Parser {
    mutating func mutation() throws -> Mutation {
        // A mutation's unknown kinds are its own (a returned mutation's are not the answer's).
        let outer = unknownKinds
        unknownKinds = []
        defer { unknownKinds = outer }
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
        var mutation = Mutation(origin: try WireJSON.required(origin, "origin"), counter: try WireJSON.required(counter, "counter"),
                                user: user, changes: try WireJSON.required(changes, "records"))
        mutation.unknownKinds = unknownKinds
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
        try array("changes") { parser in
            if let change = try parser.change() { changes.append(change) }
        }
        return changes
    }

    /// `[{"table":…,"record":…,"node":…,"hlc":…,"fields":[[field, value, base], …]}, …]`
    /// (`RecordChanges`), as field changes in order.
    mutating func records() throws -> [FieldChange] {
        var changes: [FieldChange] = []
        var entries: [(field: String, value: FieldValue, base: UInt64)] = []
        try array("records") { parser in
            var table: RecordKind?, record: String?, node: NodeID?, hlc: UInt64?
            var hasFields = false, unknown = false
            entries.removeAll(keepingCapacity: true)
            try parser.object("record changes") { parser, key in
                switch key {
                case "table":
                    let name = try parser.string("table")
                    table = RecordKind(rawValue: name)
                    if table == nil {
                        unknown = true
                        parser.noteUnknownKind(name)
                    }
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
            // A kind this version does not know: the record's changes are passed over (a newer peer wrote them).
            if unknown { return }
            let (kind, id) = (try WireJSON.required(table, "table"), try WireJSON.required(record, "record"))
            let (stamp, writer) = (HLC(rawValue: try WireJSON.required(hlc, "hlc")), try WireJSON.required(node, "node"))
            for entry in entries {
                changes.append(FieldChange(table: kind, record: id, field: entry.field, value: entry.value,
                                           hlc: stamp, node: writer, base: HLC(rawValue: entry.base)))
            }
        }
        return changes
    }

    /// Notes a record kind this version does not know, once, at most `maxUnknownKinds` of them.
    mutating func noteUnknownKind(_ name: String) {
        guard unknownKinds.count < Self.maxUnknownKinds, !unknownKinds.contains(name) else { return }
        unknownKinds.append(String(name.prefix(64)))
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
    /// nil: a change of a record kind this version does not know (noted in `unknownKinds`).
    mutating func change() throws -> FieldChange? {
        var table: RecordKind?, record: String?, field: String?, value: FieldValue = .null
        var unknown = false
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
                    table = RecordKind(rawValue: name)
                    if table == nil {
                        unknown = true
                        noteUnknownKind(name)
                    }
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
        if unknown { return nil }
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

    /// A refused mutation: its id, the reason in English and, from servers that send it, as a text key.
    /// A `reason_text` out of its bounds (or malformed inside) is dropped: the English reason stands.
    mutating func rejection() throws -> (NodeID, UInt64, String?, ReasonText?) {
        var origin: NodeID?, counter: UInt64?, reason: String?, text: ReasonText?
        try object("rejected") { parser, key in
            switch key {
            case "origin": origin = try parser.node("origin")
            case "counter": counter = try parser.unsigned("counter")
            case "reason": reason = try parser.string("reason")
            case "reason_text":
                // Read on its own: any shape but the one SYNC.md gives (or out of its bounds) is dropped, never the answer.
                let start = parser.index
                try parser.skip()
                let slice = UnsafeBufferPointer(rebasing: parser.bytes[start..<parser.index])
                text = try? JSONReader.read(slice) { parser in try parser.reasonText() }
            default: try parser.skip()
            }
        }
        return (try WireJSON.required(origin, "origin"), try WireJSON.required(counter, "counter"), reason, text)
    }

    mutating func reasonText() throws -> ReasonText? {
        var key: String?, values: [String: String] = [:]
        try object("reason_text") { parser, name in
            switch name {
            case "key": key = try parser.string("reason_text.key")
            case "values":
                var count = 0
                try parser.object("reason_text.values") { parser, name in
                    count += 1
                    let value = try parser.string("reason_text.values")
                    guard count <= ReasonText.maxValues else { return }
                    values[name.decoded ?? String(decoding: name.bytes, as: UTF8.self)] = value
                }
                if count > ReasonText.maxValues { values = [:]; key = nil }
            default: try parser.skip()
            }
        }
        guard let key else { return nil }
        let text = ReasonText(key: key, values: values)
        return text.isWithinBounds ? text : nil
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
