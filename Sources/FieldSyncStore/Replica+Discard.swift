import FieldSyncModel
import Foundation
import GRDB

/// An action taken out of the outbox by the person, kept with what it held.
public struct DiscardedAction: Sendable, Equatable {
    public var counter: UInt64
    public var mutation: Mutation
    /// The server's reason for refusing it, if it had.
    public var refusal: String?
    public var discardedAt: String
    /// Who decided it and why, when it was not the person on this laptop: "Sue (supervisor) on …: duplicate".
    public var decided: String? = nil
    /// The refusal as a text key and its values (`Rejection.text`), when the server sent one.
    public var refusalKey: String? = nil
    public var refusalValues: [String: String] = [:]
}

/// What discarding an action changed in the records.
public struct DiscardReport: Sendable, Equatable {
    /// The records the action wrote.
    public var records: [RecordKey] = []
    /// Fields that still held the action's values, now emptied (a later write is left as it is).
    public var fieldsEmptied = 0
    /// Records the action had created and that nothing else wrote: removed.
    public var recordsRemoved = 0
    /// Fields that take back the value an earlier action still waiting wrote (instead of being emptied).
    public var fieldsRestored = 0
    /// The action offered back work this replica holds (after a restore, or a repair): its values stay.
    public var wasOffer = false

    public init(records: [RecordKey] = [], fieldsEmptied: Int = 0, recordsRemoved: Int = 0, fieldsRestored: Int = 0, wasOffer: Bool = false) {
        (self.records, self.fieldsEmptied, self.recordsRemoved, self.fieldsRestored, self.wasOffer) =
            (records, fieldsEmptied, recordsRemoved, fieldsRestored, wasOffer)
    }
}

extension Replica {
    /// Takes action `counter` out of the outbox for good: it is never sent. The action is kept in
    /// `discarded` (with the server's reason), not dropped silently. A field that still holds its
    /// value takes back the value of the newest earlier action still waiting that wrote it, or is
    /// emptied; a record it created that then holds nothing is removed. What the server holds for
    /// those fields comes back with `verify --server` (the comparison sees them lacking here).
    /// An action offering back work this replica holds (`offers`: after a restore, a repair) is
    /// only taken out of the outbox: its values are this replica's own, perhaps held nowhere else.
    /// One transaction.
    public func discard(counter: UInt64, at time: String) throws -> DiscardReport {
        guard let number = Int64(exactly: counter) else { throw StoreError.notFound("no action #\(counter) waits to be sent") }
        return try writer.write { db in
            guard let report = try Self.discard(counter: number, at: time, decided: nil, db) else {
                throw StoreError.notFound("no action #\(counter) waits to be sent; list them with 'fieldsync outbox'")
            }
            return report
        }
    }

    /// `discard(counter:at:)` inside a transaction; nil if no such action waits. `decided`: who
    /// decided and why, when a supervisor did (`OutboxDecision`).
    static func discard(counter number: Int64, at time: String, decided: String?, _ db: Database) throws -> DiscardReport? {
        guard let body = try Data.fetchOne(db, sql: "SELECT body FROM outbox WHERE counter = ?", arguments: [number]) else { return nil }
        let mutation = try JSONDecoder().decode(Mutation.self, from: body)
        let refusal = try Row.fetchOne(db, sql: "SELECT reason, reason_text FROM rejections WHERE counter = ?", arguments: [number])
        try db.execute(sql: "INSERT INTO discarded (counter, body, reason, discarded_at, decided, reason_text) VALUES (?, ?, ?, ?, ?, ?)",
                       arguments: [number, body, refusal?[0] as String?, time, decided, refusal?[1] as String?])
        try db.execute(sql: "DELETE FROM outbox WHERE counter = ?", arguments: [number])
        try db.execute(sql: "DELETE FROM rejections WHERE counter = ?", arguments: [number])
        var report = DiscardReport()
        if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM offers WHERE counter = ?)", arguments: [number]) == true {
            try db.execute(sql: "DELETE FROM offers WHERE counter = ?", arguments: [number])
            report.wasOffer = true
            report.records = Array(Set(mutation.changes.map { RecordKey(table: $0.table, record: $0.record) }))
            return report
        }
        // What the actions still waiting wrote, newest last per field: a field this action wrote over one of them takes it back.
        var waiting: [FieldWrite.Field: FieldChange] = [:]
        for body in try Data.fetchAll(db, sql: "SELECT body FROM outbox ORDER BY counter") {
            for change in try JSONDecoder().decode(Mutation.self, from: body).changes {
                let field = FieldWrite.Field(table: change.table, record: change.record, field: change.field)
                if let held = waiting[field], held.stamp.isNewer(than: change.stamp) { continue }
                waiting[field] = change
            }
        }
        let io = RecordIO(db)
        var order: [RecordKey] = []
        var byRecord: [RecordKey: [FieldChange]] = [:]
        for change in mutation.changes {
            let key = RecordKey(table: change.table, record: change.record)
            if byRecord[key] == nil { order.append(key) }
            byRecord[key, default: []].append(change)
        }
        report.records = order
        for key in order {
            guard var state = try io.load(key.table, key.record) else { continue }
            let schema = key.table.schema
            var emptied = 0
            for change in byRecord[key] ?? [] {
                guard let index = schema.index(of: change.field), state.stamps[index]?.isSameWrite(as: change.stamp) == true else { continue }
                if let earlier = waiting[FieldWrite.Field(table: change.table, record: change.record, field: change.field)] {
                    state.values[index] = earlier.value
                    state.stamps[index] = earlier.stamp
                    report.fieldsRestored += 1
                } else {
                    state.values[index] = .null
                    state.stamps[index] = nil
                    report.fieldsEmptied += 1
                }
                emptied += 1
            }
            guard emptied > 0 else { continue }
            if state.stamps.allSatisfy({ $0 == nil }) {
                try db.execute(sql: "DELETE FROM \(key.table.rawValue) WHERE id = ?", arguments: [key.record])
                report.recordsRemoved += 1
            } else {
                try io.save(key.table, key.record, state)
            }
        }
        return report
    }

    /// Records a supervisor's discard (applied at a sync) emptied here and whose server copy is still to be
    /// taken back: kept in the discard's own transaction, so a sync cut short after it loses none of them.
    public func recordsToTakeBack() throws -> Set<RecordKey> {
        try writer.read { db in try Self.recordsToTakeBack(db) }
    }

    /// Takes `keys` off the records to take back (their server copy was taken).
    public func tookBack(_ keys: Set<RecordKey>) throws {
        try writer.write { db in
            let left = try Self.recordsToTakeBack(db).subtracting(keys)
            try Self.setRecordsToTakeBack(left, db)
        }
    }

    static func recordsToTakeBack(_ db: Database) throws -> Set<RecordKey> {
        guard let text = try meta(MetaKey.takeBack, db) else { return [] }
        return Set(text.split(separator: "\n").compactMap { line -> RecordKey? in
            guard let slash = line.firstIndex(of: "/"), let table = RecordKind(rawValue: String(line[..<slash])) else { return nil }
            return RecordKey(table: table, record: String(line[line.index(after: slash)...]))
        })
    }

    static func noteToTakeBack(_ keys: [RecordKey], _ db: Database) throws {
        guard !keys.isEmpty else { return }
        try setRecordsToTakeBack(try recordsToTakeBack(db).union(keys), db)
    }

    private static func setRecordsToTakeBack(_ keys: Set<RecordKey>, _ db: Database) throws {
        if keys.isEmpty {
            try db.execute(sql: "DELETE FROM meta WHERE key = ?", arguments: [MetaKey.takeBack])
        } else {
            try setMeta(MetaKey.takeBack, keys.map { "\($0.table.rawValue)/\($0.record)" }.sorted().joined(separator: "\n"), db)
        }
    }

    /// The actions discarded here, oldest first.
    public func discarded() throws -> [DiscardedAction] {
        try writer.read { db in
            try Row.fetchAll(db, sql: "SELECT counter, body, reason, discarded_at, decided, reason_text FROM discarded ORDER BY id").map { row in
                let text = RejectedMutation.text(fromColumn: row[5])
                return DiscardedAction(counter: UInt64(clamping: row[0] as Int64), mutation: try JSONDecoder().decode(Mutation.self, from: row[1] as Data),
                                       refusal: row[2], discardedAt: row[3], decided: row[4], refusalKey: text.key, refusalValues: text.values)
            }
        }
    }
}

extension Replica {
    /// Starts the refusal counts of these actions again (`outbox retry`): they stay refused, with
    /// their reason, until a server takes them (the outbox's gaps after them stay explained).
    public func restartRefusalCounts(_ counters: [UInt64]) throws {
        try writer.write { db in
            for counter in counters {
                guard let number = Int64(exactly: counter) else { continue }
                try db.execute(sql: "UPDATE rejections SET times = 0, since = NULL WHERE counter = ?", arguments: [number])
            }
        }
    }
}
