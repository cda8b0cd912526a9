import FieldSyncModel
import Foundation
import GRDB

/// What comparing this replica with the server's copy of its scope found: the records whose
/// states differ, field by field (`RecordDrift`). Found by comparing states, not by trusting
/// log positions, so a hand edit, a bug or a restore shows the same way.
public struct ServerDrift: Sendable {
    /// The records that differ, kinds in storage order, then by id.
    public var records: [RecordDrift]
    /// Records held on either side.
    public var compared: Int
    /// Writes of this replica's outbox the server does not hold yet: sent at the next sync, not drift.
    public var waiting: Int
    /// Kinds the server's copy does not hold as this version lays them out (an older server):
    /// not compared.
    public var notCompared: [RecordKind] = []
    /// How digests narrowed the comparison (nil: a snapshot of the whole scope was compared).
    public var digest: DigestSummary?

    public init(records: [RecordDrift], compared: Int, waiting: Int, notCompared: [RecordKind] = [], digest: DigestSummary? = nil) {
        (self.records, self.compared, self.waiting, self.notCompared, self.digest) = (records, compared, waiting, notCompared, digest)
    }

    public var isIdentical: Bool { records.isEmpty }

    /// Differing records by what repairs them: the server's copy taken here, this replica's offered.
    public var takenFromServer: Int { records.count { !$0.replicaLacks.isEmpty || !$0.serverCopyOfAlteredWrites.isEmpty } }
    public var offeredToServer: Int { records.count { !$0.serverLacks.isEmpty } }
}

/// A comparison by digests (Protocol/SYNC.md, "Digests"): of the 256 buckets of records, how
/// many differed, and how many of the server's records they held (the only ones that travelled).
public struct DigestSummary: Sendable, Equatable {
    public var differing: Int
    public var recordsRead: Int

    public init(differing: Int, recordsRead: Int) {
        (self.differing, self.recordsRead) = (differing, recordsRead)
    }
}

/// What a repair did.
public struct DriftRepair: Sendable, Equatable {
    /// Records updated here from the server's copy.
    public var taken = 0
    /// Records offered to the server, one outbox action each (one the server refuses holds back no other).
    public var offered = 0
    /// Records the server lacks that this laptop cannot send: other people's work (each device
    /// sends its own; the server would refuse it from this one) and the province's lists
    /// (branches, calendar days: only the province writes them).
    public var notOffered = 0
    /// Conflict records made while taking the server's copy.
    public var conflicts = 0

    public init(taken: Int = 0, offered: Int = 0, notOffered: Int = 0, conflicts: Int = 0) {
        (self.taken, self.offered, self.notOffered, self.conflicts) = (taken, offered, notOffered, conflicts)
    }
}

extension Replica {
    /// Compares the records of this replica with those of the replica file at `path` (a snapshot
    /// of this device's scope, made by its server): every kind, every field, by stamp and value.
    /// Writes still in the outbox are not counted as drift.
    public func drift(againstSnapshotAt path: String) throws -> ServerDrift {
        var server: [RecordKind: [String: RecordState]] = [:]
        let notCompared = try Self.scanRecords(inFileAt: path) { key, state in server[key.table, default: [:]][key.record] = state }
        return try drift(against: server, notCompared: notCompared)
    }

    /// Calls `body` with every record of the replica file at `path` (a snapshot, made by a server
    /// and trusted no further than a pull), kinds in storage order; returns the kinds the file does
    /// not hold as this version lays them out (an older server's), which it passes over.
    public static func scanRecords(inFileAt path: String, _ body: (RecordKey, RecordState) throws -> Void) throws -> [RecordKind] {
        var configuration = Configuration()
        configuration.readonly = true
        // The file comes from the server: its schema may run nothing (views, triggers, functions it names).
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA trusted_schema = OFF") }
        let snapshot = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? snapshot.close() }
        var notCompared: [RecordKind] = []
        try snapshot.read { db in
            let io = RecordIO(db)
            for kind in RecordKind.allCases {
                // A real table with every column this version reads (an older server's lacks newer fields).
                let type = try String.fetchOne(db, sql: "SELECT type FROM sqlite_master WHERE name = ?", arguments: [kind.rawValue])
                let columns = Set(try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [kind.rawValue]))
                guard type == "table", columns.isSuperset(of: ["id", "_stamps"] + kind.schema.fields.map(\.name)) else {
                    notCompared.append(kind)
                    continue
                }
                try io.scan(kind) { id, state in
                    if RecordID.isValid(id) || kind.isProvinceWide { try body(RecordKey(table: kind, record: id), state) }
                }
            }
        }
        return notCompared
    }

    /// Calls `body` with every record of this replica that a comparison with its server takes
    /// (the records a snapshot of its scope would hold), kinds in storage order.
    public func scanRecords(_ body: (RecordKey, RecordState) throws -> Void) throws {
        try writer.read { db in
            let io = RecordIO(db)
            for kind in RecordKind.allCases {
                try io.scan(kind) { id, state in
                    if RecordID.isValid(id) || kind.isProvinceWide { try body(RecordKey(table: kind, record: id), state) }
                }
            }
        }
    }

    /// Compares the records of this replica with the server's states in `server`, kinds in
    /// `notCompared` left out. `only`: the records to compare (the others agree, as a digest
    /// showed); nil compares every record. Writes still in the outbox are not counted as drift.
    public func drift(against server: [RecordKind: [String: RecordState]], notCompared: [RecordKind] = [],
                      only: ((RecordKey) -> Bool)? = nil) throws -> ServerDrift {
        try writer.read { db in
            let io = RecordIO(db)
            var waiting = Set<FieldWrite>()
            for body in try Data.fetchAll(db, sql: "SELECT body FROM outbox") {
                for change in try JSONDecoder().decode(Mutation.self, from: body).changes { waiting.insert(FieldWrite(change)) }
            }
            var drift = ServerDrift(records: [], compared: 0, waiting: 0, notCompared: notCompared)
            for kind in RecordKind.allCases where !notCompared.contains(kind) {
                var theirs = server[kind] ?? [:]
                var found: [RecordDrift] = []
                func compare(_ id: String, here: RecordState?, server: RecordState?) {
                    let key = RecordKey(table: kind, record: id)
                    if let only, !only(key) { return }
                    drift.compared += 1
                    guard var difference = RecordDrift.compare(key, here: here, server: server) else { return }
                    let schema = kind.schema
                    difference.fields.removeAll { field in
                        guard field.drift == .serverLacks, let stamp = here?.stamps[field.index],
                              waiting.contains(FieldWrite(table: kind, record: id, field: schema.fields[field.index].name, hlc: stamp.hlc)) else { return false }
                        drift.waiting += 1
                        return true
                    }
                    if !difference.fields.isEmpty { found.append(difference) }
                }
                try io.scan(kind) { id, state in
                    guard RecordID.isValid(id) || kind.isProvinceWide else { return }
                    compare(id, here: state, server: theirs.removeValue(forKey: id))
                }
                for (id, state) in theirs { compare(id, here: nil, server: state) }
                drift.records += found.sorted { $0.key.record < $1.key.record }
            }
            return drift
        }
    }

    /// Repairs what `drift` found, in one transaction: the server's states this replica lacks
    /// are merged as a pull would (conflicts made as usual); a write altered here outside
    /// FieldSync takes the server's copy of it; this device's own writes the server lacks are
    /// offered to it at the next sync with their original stamps, one record per action (marked
    /// as offers: discarding one keeps the values). Conflict records another node made are
    /// written again as this device's, as after a restore. Other people's work and the
    /// province's lists are left to their writers (`notOffered`). Records changed since the
    /// comparison are merged, never overwritten: the merge keeps what is newer.
    public func repair(_ drift: ServerDrift) throws -> DriftRepair {
        guard !drift.isIdentical else { return DriftRepair() }
        let now = wallClock()
        return try writer.write { db in
            let node = try Self.requireNode(db)
            var repair = DriftRepair()
            let io = RecordIO(db)
            // Altered writes first: the merge takes a same stamp for a same value, so only a direct write puts them right.
            try Self.putBack(drift.records.flatMap(\.serverCopyOfAlteredWrites), io: io)
            let pulled = drift.records.flatMap(\.replicaLacks)
            if !pulled.isEmpty {
                let report = try Self.apply(pulled[...], now: now, db)
                repair.conflicts = report.conflictsCreated.count
            }
            repair.taken = drift.takenFromServer
            var counter = UInt64(try Self.meta(MetaKey.counter, db) ?? "0") ?? 0
            var clock = try Self.clock(db)
            let offset = try Self.clockOffset(db)
            // One record per action: the server decides an action whole, and one it refuses (a file handed
            // over meanwhile) must not hold back the others.
            var offers = OfferBatch(node: node, user: try Self.meta(MetaKey.user, db), counter: counter, recordsPerMutation: 1)
            // Kinds in storage order (customers first), so a file's parent is offered before what hangs from it.
            for record in drift.records {
                let lacking = record.serverLacks
                guard !lacking.isEmpty else { continue }
                guard !record.key.table.isProvinceWide, var state = try io.load(record.key.table, record.key.record) else {
                    repair.notOffered += 1
                    continue
                }
                let schema = record.key.table.schema
                // Offered as this replica holds it now (a merge since the comparison may have replaced it).
                let current = lacking.filter { change in
                    guard let index = schema.index(of: change.field), let stamp = state.stamps[index] else { return false }
                    return stamp.isSameWrite(as: change.stamp)
                }
                var offered = current.filter { $0.node == node }
                let others = current.filter { $0.node != node }
                if !others.isEmpty, record.key.table == .conflict {
                    // As after a restore: a conflict record another node (the server, usually) made is written again as this device's.
                    let hlc = clock.tick(nowMilliseconds: UInt64(max(0, Int64(clamping: now) &+ offset)))
                    let rewritten = OfferBatch.rewrittenAsOwn(others, node: node, hlc: hlc)
                    var ignored: [Overwrite] = []
                    _ = RecordMerge.apply(rewritten, to: &state, schema: schema, overwrites: &ignored)
                    try io.save(record.key.table, record.key.record, state)
                    offered += rewritten
                } else if !others.isEmpty {
                    repair.notOffered += 1
                }
                guard !offered.isEmpty else { continue }
                try offers.add(offered, db)
                repair.offered += 1
            }
            try offers.flush(db)
            counter = offers.counter
            try Self.saveClock(clock, db)
            try Self.setMeta(MetaKey.counter, String(counter), db)
            return repair
        }
    }
}

extension Replica {
    /// When this replica last compared itself with its server by digests (ms, its own clock); nil: never.
    public func lastDigestComparison() throws -> UInt64? {
        try writer.read { db in try Self.meta(MetaKey.digestComparedAt, db).flatMap(UInt64.init) }
    }

    public func noteDigestComparison(at time: UInt64) throws {
        try writer.write { db in try Self.setMeta(MetaKey.digestComparedAt, String(time), db) }
    }
}

extension Replica {
    /// Writes the server's value of each write this replica holds with the same stamp and another
    /// value (changed outside FieldSync: no merge can put it right, since a merge takes a stamp for
    /// its value). A field written since is left as it is. One transaction.
    public func putBack(_ altered: [FieldChange]) throws {
        guard !altered.isEmpty else { return }
        try writer.write { db in try Self.putBack(altered, io: RecordIO(db)) }
    }

    static func putBack(_ altered: [FieldChange], io: RecordIO) throws {
        for change in altered {
            guard var state = try io.load(change.table, change.record), let index = change.table.schema.index(of: change.field),
                  state.stamps[index]?.isSameWrite(as: change.stamp) == true else { continue }
            state.values[index] = change.value
            try io.save(change.table, change.record, state)
        }
    }
}
