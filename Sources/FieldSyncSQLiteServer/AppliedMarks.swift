import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import GRDB

/// The mutations this server has applied (SQLite engine): `AppliedRuns` read from and written to
/// `applied_ranges` in the push's transaction.
struct AppliedMarks {
    private var runs = AppliedRuns()

    init() {}

    /// Reads the stored runs for these mutations' counters: one query per origin for
    /// a push of consecutive counters, one per cluster for counters far apart.
    init(for mutations: some Sequence<Mutation>, _ db: Database) throws {
        for (origin, span) in AppliedRuns.spans(of: mutations.map { MutationID(origin: $0.origin, counter: $0.counter) }) {
            try read(origin, span, db)
        }
    }

    /// Whether the mutation was applied: as stored, or marked since. False for an origin not read.
    func contains(_ id: MutationID) -> Bool { runs.contains(id) }

    /// Marks a mutation applied (reading the stored runs around it first if needed); false if it was already.
    @discardableResult
    mutating func insert(_ id: MutationID, _ db: Database) throws -> Bool {
        guard id.counter <= UInt64(Int64.max) else { throw DatabaseError(message: "mutation counter \(id.counter) is out of range") }
        if !runs.hasRead(id) { try read(id.origin, id.counter...id.counter, db) }
        return runs.mark(id)
    }

    /// How many stored runs were read (tests: a push reads near its counters only).
    var storedRunsRead: Int { runs.storedRunsRead }

    /// Writes the runs that changed in place of the stored runs they came from.
    func save(_ db: Database) throws {
        let delete = try db.cachedStatement(sql: "DELETE FROM applied_ranges WHERE origin = ? AND low = ?")
        let insert = try db.cachedStatement(sql: "INSERT INTO applied_ranges (origin, low, high) VALUES (?, ?, ?)")
        for write in runs.writes {
            for low in write.delete { try delete.execute(arguments: [write.origin, low]) }
            for range in write.insert { try insert.execute(arguments: [write.origin, range.lowerBound, range.upperBound]) }
        }
    }

    /// Marks one mutation applied in its own read-and-write (the server's own mutations).
    static func mark(_ id: MutationID, _ db: Database) throws {
        var marks = AppliedMarks()
        try marks.insert(id, db)
        try marks.save(db)
    }

    /// Reads the stored runs of `origin` that hold or touch `span`.
    private mutating func read(_ origin: NodeID, _ span: ClosedRange<UInt64>, _ db: Database) throws {
        let (bottom, top) = AppliedRuns.bounds(of: span)
        // Runs are disjoint and sorted, so walking down from the span's top, the first run that ends below it ends the walk.
        let rows = try Row.fetchCursor(
            db.cachedStatement(sql: "SELECT low, high FROM applied_ranges WHERE origin = ? AND low <= ? ORDER BY low DESC"),
            arguments: [origin.description, top])
        var found: [(low: Int64, high: Int64)] = []
        while let row = try rows.next() {
            let (low, high): (Int64, Int64) = (row[0], row[1])
            guard high >= bottom else { break }
            found.append((low, high))
        }
        runs.received(found, origin: origin, span: span)
    }
}
