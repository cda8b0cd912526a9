import FieldSyncModel
import Foundation
import GRDB

/// What a server said about one pushed mutation that it refused.
public struct RejectedMutation: Sendable, Equatable {
    public var counter: UInt64
    public var reason: String
    /// At how many syncs a server refused it (the latest reason is kept).
    public var times: Int
    /// When it was first refused (the sync's time), if known.
    public var since: String?
    /// A supervisor's note handing it back: "Sue (supervisor) on 2026-12-08 10:00: the date is wrong".
    public var note: String?
    /// The reason as a text key and its values, when the server sent one (`Rejection.text`): shown in the
    /// reader's language, else `reason`.
    public var textKey: String?
    public var textValues: [String: String]

    public init(counter: UInt64, reason: String, times: Int = 1, since: String? = nil, note: String? = nil,
                textKey: String? = nil, textValues: [String: String] = [:]) {
        self.counter = counter
        self.reason = reason
        self.times = times
        self.since = since
        self.note = note
        self.textKey = textKey
        self.textValues = textValues
    }

    /// The key and values as the `reason_text` column keeps them (JSON), or nil.
    var textColumn: String? {
        guard let textKey else { return nil }
        let object: [String: Any] = ["key": textKey, "values": textValues]
        return (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads the `reason_text` column; anything but the form written above reads as no key.
    static func text(fromColumn column: String?) -> (key: String?, values: [String: String]) {
        guard let column, let object = try? JSONSerialization.jsonObject(with: Data(column.utf8)) as? [String: Any],
              let key = object["key"] as? String else { return (nil, [:]) }
        return (key, (object["values"] as? [String: String]) ?? [:])
    }

    /// Refused at this many syncs, an action is named at each sync as what holds the outbox up.
    public static let stuckAfter = 3

    /// Refused because the server does not know what a newer FieldSync wrote (`PushRules.newerThanServer`):
    /// it passes once the server is upgraded, and is no candidate for discarding.
    public var awaitsServerUpgrade: Bool { reason.hasPrefix("this server does not know the ") }
}

/// A supervisor's decision about one of this replica's refused actions, as a server relayed it
/// (`SyncResponse.Instruction`): applied by `finishExchange` in the answer's transaction.
public struct OutboxDecision: Sendable, Equatable {
    public var counter: UInt64
    /// Discard the action (true), or keep it with the note beside it (false).
    public var discard: Bool
    public var note: String
    /// "Sue (supervisor)".
    public var by: String
    /// When they decided, as a local time.
    public var at: String

    public init(counter: UInt64, discard: Bool, note: String, by: String, at: String) {
        (self.counter, self.discard, self.note, self.by, self.at) = (counter, discard, note, by, at)
    }

    /// As it is kept and shown: "Sue (supervisor) on 2026-12-08 10:00: the date is wrong".
    public var text: String {
        "\(Wording.printable(String(by.prefix(200)))) on \(at): \(Wording.printable(String(note.prefix(1_000))))"
    }
}

/// A refusal as stored, carried along when an outbox is renumbered.
struct RefusalNote {
    var reason: String
    var times: Int64
    var since: String?
    var decision: String?
    var text: String?

    static func all(_ db: Database) throws -> [Int64: RefusalNote] {
        var notes: [Int64: RefusalNote] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT counter, reason, times, since, decision, reason_text FROM rejections") {
            notes[row[0]] = RefusalNote(reason: row[1], times: row[2], since: row[3], decision: row[4], text: row[5])
        }
        return notes
    }

    func insert(counter: Int64, _ db: Database) throws {
        try db.execute(sql: "INSERT INTO rejections (counter, reason, times, since, decision, reason_text) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [counter, reason, times, since, decision, text])
    }

    /// One more refusal of `counter` at the sync of `at`, if the outbox still holds it (an answer to a page
    /// read ahead may refuse an action discarded meanwhile: no refusal is kept without its action).
    static func note(counter: Int64, reason: String, text: String? = nil, at: String, _ db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT INTO rejections (counter, reason, times, since, reason_text) SELECT ?, ?, 1, NULLIF(?, ''), ? WHERE EXISTS (SELECT 1 FROM outbox WHERE counter = ?)
            ON CONFLICT (counter) DO UPDATE SET reason = excluded.reason, reason_text = excluded.reason_text, times = times + 1, since = COALESCE(since, excluded.since)
            """).execute(arguments: [counter, reason, at, text, counter])
    }
}

extension Replica {
    /// The last server sequence number applied here.
    public func syncCursor() throws -> Int64 {
        try writer.read { db in Int64(try Self.meta(MetaKey.cursor, db) ?? "0") ?? 0 }
    }

    /// Outbox mutations after `counter`, oldest first, bounded in count and
    /// bytes, as the JSON the outbox keeps (the wire form of a mutation), so a
    /// push sends them without decoding and re-encoding.
    public func outboxBodies(after counter: UInt64, maxMutations: Int, maxBytes: Int) throws -> [(counter: UInt64, body: [UInt8])] {
        try writer.read { db in
            var result: [(counter: UInt64, body: [UInt8])] = []
            var bytes = 0
            let rows = try Row.fetchCursor(db, sql: "SELECT counter, body FROM outbox WHERE counter > ? ORDER BY counter LIMIT ?",
                                           arguments: [Int64(clamping: counter), maxMutations])
            while let row = try rows.next() {
                let body: Data = row[1]
                if !result.isEmpty, bytes + body.count > maxBytes { break }
                bytes += body.count
                result.append((UInt64(clamping: row[0] as Int64), Array(body)))
            }
            return result
        }
    }

    /// How many mutations wait in the outbox (refused ones included).
    public func outboxCount() throws -> Int {
        try writer.read { db in try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM outbox")) ?? 0 }
    }

    /// Whether the outbox holds a mutation after `counter` (not yet sent in this sync).
    public func hasOutbox(after counter: UInt64) throws -> Bool {
        try writer.read { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM outbox WHERE counter > ?)"), arguments: [Int64(clamping: counter)]) ?? false
        }
    }

    /// Records one sync exchange in one transaction: merges the pulled
    /// changes, stores the new cursor, drops the acknowledged outbox entries
    /// and remembers refusals. Nothing is dropped that was not acknowledged.
    @discardableResult
    public func finishExchange(pulled changes: [FieldChange], cursor: Int64, acknowledged: [UInt64],
                               rejected: [RejectedMutation], left: [String] = [], returned: [(mutation: Mutation, reason: String)] = [],
                               unknown: [String] = [], readFrom: Int64 = 0, decisions: [OutboxDecision] = [],
                               syncedAt: String) throws -> ApplyReport {
        let now = wallClock()
        return try writer.write { db in
            var report = try Self.apply(changes[...], now: now, db)
            try Self.setMeta(MetaKey.cursor, String(cursor), db)
            var acked = HLC(rawValue: UInt64(try Self.meta(MetaKey.ackedHLC, db) ?? "0") ?? 0)
            // By runs of consecutive counters (a push's are one run): three statements a run, not a counter.
            // A counter over Int64.max names no outbox entry (counters are stored as Int64).
            for run in Self.runs(of: acknowledged.compactMap { Int64(exactly: $0) }) {
                let bounds: StatementArguments = [run.lowerBound, run.upperBound]
                if let hlc = try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(hlc) FROM outbox WHERE counter BETWEEN ? AND ?"), arguments: bounds) {
                    acked = max(acked, HLC(rawValue: UInt64(bitPattern: hlc)))
                }
                try db.cachedStatement(sql: "DELETE FROM outbox WHERE counter BETWEEN ? AND ?").execute(arguments: bounds)
                try db.cachedStatement(sql: "DELETE FROM rejections WHERE counter BETWEEN ? AND ?").execute(arguments: bounds)
                try db.cachedStatement(sql: "DELETE FROM offers WHERE counter BETWEEN ? AND ?").execute(arguments: bounds)
            }
            try Self.setMeta(MetaKey.ackedHLC, String(acked.rawValue), db)
            // A decision counts only for an action refused before this answer and again in it: a server cannot
            // name any action of the outbox refused and discard it in one answer.
            var decidable = Set<Int64>()
            if !decisions.isEmpty {
                let refusedNow = Set(rejected.compactMap { Int64(exactly: $0.counter) })
                for decision in decisions {
                    guard let counter = Int64(exactly: decision.counter), refusedNow.contains(counter),
                          try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM rejections WHERE counter = ?)", arguments: [counter]) == true
                    else { continue }
                    decidable.insert(counter)
                }
            }
            // As the server sent them: a counter over Int64.max (no outbox entry has one) is passed over, not trapped on.
            for rejection in rejected {
                guard let counter = Int64(exactly: rejection.counter) else { continue }
                try RefusalNote.note(counter: counter, reason: rejection.reason, text: rejection.textColumn, at: syncedAt, db)
            }
            // Work a server accepted and its upstream refused comes back, refused, with the reason.
            for (mutation, reason) in returned {
                let hlc = mutation.changes.map(\.hlc).max() ?? .zero
                try db.execute(sql: "INSERT OR IGNORE INTO outbox (counter, hlc, body) VALUES (?, ?, ?)",
                               arguments: [Int64(clamping: mutation.counter), Int64(bitPattern: hlc.rawValue), Data(mutation.jsonBytes())])
                try RefusalNote.note(counter: Int64(clamping: mutation.counter), reason: reason, at: syncedAt, db)
            }
            if !unknown.isEmpty { try Self.noteUnknownContent(unknown, readFrom: readFrom, db) }
            // A supervisor's decisions about actions refused in this answer. An action offering back work this
            // replica holds (after a restore) is never discarded for it: its values may be held nowhere else.
            for decision in decisions {
                guard let counter = Int64(exactly: decision.counter), decidable.contains(counter) else { continue }
                if decision.discard {
                    guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM offers WHERE counter = ?)", arguments: [counter]) == false else { continue }
                    if let discarded = try Self.discard(counter: counter, at: syncedAt, decided: decision.text, db) {
                        report.discarded.append(decision.counter)
                        // The fields it emptied held the server's values: its copy of these records is taken back after the sync.
                        try Self.noteToTakeBack(discarded.records, db)
                    }
                } else {
                    try db.execute(sql: "UPDATE rejections SET decision = ? WHERE counter = ?", arguments: [decision.text, counter])
                }
            }
            try Self.setMeta(MetaKey.lastSync, syncedAt, db)
            report.filesDropped = try Self.settleHandovers(left: left, pulled: changes, db)
            return report
        }
    }

    /// The numbers as runs of consecutive values, ascending, each number once.
    package static func runs(of numbers: [Int64]) -> [ClosedRange<Int64>] {
        var runs: [ClosedRange<Int64>] = []
        for number in Set(numbers).sorted() {
            if let last = runs.last, last.upperBound < Int64.max, last.upperBound + 1 == number {
                runs[runs.count - 1] = last.lowerBound...number
            } else {
                runs.append(number...number)
            }
        }
        return runs
    }

    /// Mutations the server refused, with its reasons (they stay in the outbox).
    public func rejections() throws -> [RejectedMutation] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT counter, reason, times, since, decision, reason_text FROM rejections ORDER BY counter").map {
                let text = RejectedMutation.text(fromColumn: $0[5])
                return RejectedMutation(counter: UInt64(clamping: $0[0] as Int64), reason: $0[1], times: Int(clamping: $0[2] as Int64), since: $0[3], note: $0[4],
                                        textKey: text.key, textValues: text.values)
            }
        }
    }

    /// The offset (ms) added to this device's clock for new stamps.
    public func clockOffset() throws -> Int64 {
        try writer.read { db in try Self.clockOffset(db) }
    }

    /// Stored within ±`maxClockOffset`: the offset comes from a server's answers, and no answer
    /// may push this device's clock out of range (adding it to the wall clock could not overflow).
    public func setClockOffset(_ offset: Int64) throws {
        try writer.write { db in try Self.setMeta(MetaKey.clockOffset, String(Self.bounded(offset)), db) }
    }

    /// Ten years, in milliseconds: far beyond any real clock error.
    public static let maxClockOffset: Int64 = 10 * 365 * 86_400_000

    static func clockOffset(_ db: Database) throws -> Int64 {
        bounded(Int64(try meta(MetaKey.clockOffset, db) ?? "0") ?? 0)
    }

    private static func bounded(_ offset: Int64) -> Int64 { min(max(offset, -maxClockOffset), maxClockOffset) }
}

extension Replica {
    /// What a newer server sent that this version does not know (record kinds, and fields as
    /// "kind.field"), and the cursor of the first request that brought any: after an upgrade,
    /// `readAgainWhatIsNowKnown` reads the log again from there. Merging again is idempotent.
    public static func noteUnknownContent(_ names: [String], readFrom cursor: Int64, _ db: Database) throws {
        var known = try meta(MetaKey.unknownContent, db).map { $0.split(separator: "\n").map(String.init) } ?? []
        // Names a server chose: kept only as a kind or "kind.field" can be written (lowercase, digits, _ and one dot).
        let written = names.filter { name in
            !name.isEmpty && name.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "." }
        }
        for name in written where !known.contains(name) {
            guard known.count < 64 else {
                // More names than are kept (junk a hostile peer sent, or a much newer server): the next version
                // whose schemas differ from this one's reads again from the first skip, whatever it knows.
                if try meta(MetaKey.unknownOverflow, db) == nil { try setMeta(MetaKey.unknownOverflow, schemaFingerprint, db) }
                break
            }
            known.append(name)
        }
        try setMeta(MetaKey.unknownContent, known.joined(separator: "\n"), db)
        let from = Int64(try meta(MetaKey.unknownFrom, db) ?? "") ?? .max
        if cursor < from { try setMeta(MetaKey.unknownFrom, String(max(0, cursor)), db) }
    }

    /// What an older version of FieldSync skipped here and this one knows: the cursor goes back to
    /// where it was first skipped, so the next pull brings it again. Returns the names now known.
    public func readAgainWhatIsNowKnown() throws -> [String] {
        let (noted, overflow) = try writer.read { db in (try Self.meta(MetaKey.unknownContent, db), try Self.meta(MetaKey.unknownOverflow, db)) }
        guard (overflow != nil && overflow != Self.schemaFingerprint)
            || (noted ?? "").split(separator: "\n").contains(where: { Self.isKnown(String($0)) }) else { return [] }
        return try writer.write { db in
            guard let from = try Self.takeNowKnown(db) else { return [] }
            let cursor = Int64(try Self.meta(MetaKey.cursor, db) ?? "0") ?? 0
            try Self.setMeta(MetaKey.cursor, String(min(cursor, from.cursor)), db)
            return from.names
        }
    }

    /// Forgets the noted names this version knows; returns them with the cursor to read again from, or nil.
    public static func takeNowKnown(_ db: Database) throws -> (names: [String], cursor: Int64)? {
        let names = (try meta(MetaKey.unknownContent, db) ?? "").split(separator: "\n").map(String.init)
        var nowKnown = names.filter(isKnown)
        // Names were dropped once the list was full: a version with other schemas may know one of them.
        if let overflow = try meta(MetaKey.unknownOverflow, db), overflow != schemaFingerprint {
            try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [MetaKey.unknownOverflow])
            if nowKnown.isEmpty { nowKnown = ["(names not kept)"] }
        }
        guard !nowKnown.isEmpty else { return nil }
        let from = Int64(try meta(MetaKey.unknownFrom, db) ?? "") ?? 0
        let left = names.filter { !isKnown($0) }
        try setMeta(MetaKey.unknownContent, left.joined(separator: "\n"), db)
        if left.isEmpty { try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [MetaKey.unknownFrom]) }
        return (nowKnown, from)
    }

    /// The record kinds and fields this version knows, as one string: another version's differs.
    static let schemaFingerprint: String = RecordKind.allCases.map { "\($0.rawValue):\($0.schema.fields.map(\.name).joined(separator: ","))" }
        .joined(separator: ";")

    /// Whether this version knows a record kind, or a field written "kind.field".
    static func isKnown(_ name: String) -> Bool {
        let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
        guard let kind = parts.first.flatMap(RecordKind.init(rawValue:)) else { return false }
        return parts.count == 1 || kind.schema.index(of: parts[1]) != nil
    }

    /// What this version skipped of what servers sent (record kinds, "kind.field"), until an upgrade reads it again.
    public func unknownContent() throws -> [String] {
        try writer.read { db in try Self.meta(MetaKey.unknownContent, db)?.split(separator: "\n").map(String.init) ?? [] }
    }
}

extension Replica {
    /// The device's signing key as stored (`SignedPage`), or nil before its first sync.
    public func signingKey() throws -> [UInt8]? {
        try writer.read { db in try Self.meta(MetaKey.signingKey, db).flatMap { Data(base64Encoded: $0) }.map(Array.init) }
    }

    /// Stores the device's signing key once: an existing one is kept and returned.
    public func storeSigningKey(_ key: [UInt8]) throws -> [UInt8] {
        try writer.write { db in
            if let existing = try Self.meta(MetaKey.signingKey, db).flatMap({ Data(base64Encoded: $0) }) { return Array(existing) }
            try Self.setMeta(MetaKey.signingKey, Data(key).base64EncodedString(), db)
            return key
        }
    }
}
