import FieldSyncModel

/// Fast JSON for the two bulk messages, sync requests and responses, which
/// carry up to hundreds of thousands of field changes. Foundation's Codable
/// JSON costs more than the SQLite work around it at that size; the other
/// messages use Codable. Both forms are the same JSON (a test checks it).
///
/// In three layers: this file writes the messages; `WireJSON+Reading.swift` reads
/// them (with every bound and check a server needs); `JSONReader.swift` is the
/// generic JSON tokenizer under the readers.
public enum WireJSON {
    /// A sync request whose mutations are already JSON (as the outbox keeps them).
    public static func syncRequest(cursor: Int64, clientTime: UInt64, maxChanges: Int?, follows: UInt64? = nil, pending: Int? = nil,
                                   below: FreshnessReport? = nil, signed: [SignedPage] = [], incarnation: String? = nil,
                                   reapply: Bool = false, mutationBodies: [[UInt8]]) -> [UInt8] {
        syncRequestStart(mutationBodies: mutationBodies)
            + syncRequestEnd(cursor: cursor, clientTime: clientTime, maxChanges: maxChanges, follows: follows, pending: pending, below: below,
                             signed: signed, incarnation: incarnation, reapply: reapply)
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
                                      below: FreshnessReport? = nil, signed: [SignedPage] = [], incarnation: String? = nil,
                                      reapply: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        if reapply { out.append(contentsOf: #","reapply":true"#.utf8) }
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
            if !below.names.isEmpty {
                out.append(contentsOf: #","names":["#.utf8)
                for (index, entry) in below.names.enumerated() {
                    if index > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(contentsOf: #"{"node":""#.utf8)
                    out.append(contentsOf: entry.node.description.utf8)
                    out.append(contentsOf: #"","user":"#.utf8)
                    JSONText.appendString(entry.user, to: &out)
                    out.append(contentsOf: #","device":"#.utf8)
                    JSONText.appendString(entry.device, to: &out)
                    out.append(UInt8(ascii: "}"))
                }
                out.append(UInt8(ascii: "]"))
            }
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
        if let incarnation {
            out.append(contentsOf: #","incarnation":"#.utf8)
            JSONText.appendString(incarnation, to: &out)
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
            if let text = rejection.text {
                out.append(contentsOf: #","reason_text":{"key":"#.utf8)
                JSONText.appendString(text.key, to: &out)
                out.append(contentsOf: #","values":{"#.utf8)
                for (position, (name, value)) in text.values.sorted(by: { $0.key < $1.key }).enumerated() {
                    if position > 0 { out.append(UInt8(ascii: ",")) }
                    JSONText.appendString(name, to: &out)
                    out.append(UInt8(ascii: ":"))
                    JSONText.appendString(value, to: &out)
                }
                out.append(contentsOf: "}}".utf8)
            }
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
        out.append(UInt8(ascii: "]"))
        if let incarnation = response.incarnation {
            out.append(contentsOf: #","incarnation":"#.utf8)
            JSONText.appendString(incarnation, to: &out)
        }
        if !response.instructions.isEmpty {
            out.append(contentsOf: #","instructions":["#.utf8)
            for (index, instruction) in response.instructions.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: #"{"counter":"#.utf8)
                out.append(contentsOf: String(instruction.counter).utf8)
                out.append(contentsOf: #","action":"#.utf8)
                JSONText.appendString(instruction.action.rawValue, to: &out)
                out.append(contentsOf: #","note":"#.utf8)
                JSONText.appendString(instruction.note, to: &out)
                out.append(contentsOf: #","by":"#.utf8)
                JSONText.appendString(instruction.by, to: &out)
                out.append(contentsOf: #","at":"#.utf8)
                out.append(contentsOf: String(instruction.at).utf8)
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "]"))
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// `{"origin":"…","counter":N` — the object is left open for more keys.
    private static func appendID(_ origin: NodeID, _ counter: UInt64, to out: inout [UInt8]) {
        out.append(contentsOf: #"{"origin":""#.utf8)
        out.append(contentsOf: origin.description.utf8)
        out.append(contentsOf: #"","counter":"#.utf8)
        out.append(contentsOf: String(counter).utf8)
    }
}
