import FieldSyncModel
import FieldSyncStore
import Foundation
import GRDBSQLite

struct BenchmarkArguments {
    var records = 100_000
    var pageRecords = 5_000
    var rounds = 3
    var dir: String?
    /// Run only this phase (for profiling): raw, hop, merge, local, single or sync; or kpi, which runs only alone.
    var only: String?
    /// The load benchmark: laptops, how long, and the mean pause between a laptop's syncs.
    var clients = 1_000
    var seconds = 60.0
    var interval = 3.0
    /// A PostgreSQL server: the sync benchmark also runs with the server on it (in a database of its own).
    var database = ProcessInfo.processInfo.environment["FIELDSYNC_BENCH_DATABASE_URL"].flatMap { $0.isEmpty ? nil : $0 }

    func runs(_ phase: String) -> Bool { only == nil || only == phase }

    init<S: Sequence>(_ arguments: S) where S.Element == String {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--records": records = iterator.next().flatMap(Int.init) ?? records
            case "--page": pageRecords = iterator.next().flatMap(Int.init) ?? pageRecords
            case "--rounds": rounds = max(1, iterator.next().flatMap(Int.init) ?? rounds)
            case "--dir": dir = iterator.next()
            case "--only": only = iterator.next()
            case "--clients": clients = max(1, iterator.next().flatMap(Int.init) ?? clients)
            case "--seconds": seconds = max(1, iterator.next().flatMap(Double.init) ?? seconds)
            case "--interval": interval = max(0, iterator.next().flatMap(Double.init) ?? interval)
            case "--database": database = iterator.next()
            default:
                FileHandle.standardError.write(Data("usage: fieldsync-bench [--records N] [--page RECORDS] [--rounds N] [--dir DIR] [--only raw|hop|merge|local|single|sync|kpi|tier|load] [--clients N] [--seconds S] [--interval S] [--database postgres://…]\n".utf8))
                exit(64)
            }
        }
    }
}

/// Visit records of realistic size: 10 fields, about 300 bytes.
struct VisitRows {
    static let fieldCount = 10
    static let fields = ["customer", "manager", "at", "kind", "participants", "summary", "requests", "actions", "complaint", "removed"]

    var ids: [String] = []
    var values: [[FieldValue]] = []

    init(count: Int, seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let words = ["tower", "site", "power", "fibre", "review", "renewal", "alarm", "billing", "capacity", "survey", "backhaul", "lease"]
        func sentence(_ n: Int) -> String { (0..<n).map { _ in words.randomElement(using: &rng)! }.joined(separator: " ") }
        ids.reserveCapacity(count)
        values.reserveCapacity(count)
        for index in 0..<count {
            ids.append(RecordID.make(using: &rng))
            values.append([
                .text("c0000000-0000-4000-8000-000000000001"),
                .text("Manager \(index % 200)"),
                .text(Timestamp(epochSeconds: 1_790_000_000 + Int64(index) * 60, offsetMinutes: 480).description),
                .text(RecordSchema.visitKinds[index % 4]),
                .text(sentence(5)),
                .text(sentence(16)),
                .text(sentence(8)),
                .text(sentence(6)),
                .null,
                .int(0),
            ])
        }
    }

    var averageBytes: Int {
        let sample = values.prefix(1_000)
        let total = sample.reduce(0) { sum, row in sum + 36 + row.reduce(0) { $0 + $1.description.utf8.count } }
        return total / max(1, sample.count)
    }

    func fieldChanges(node: NodeID) -> [FieldChange] {
        var changes: [FieldChange] = []
        changes.reserveCapacity(ids.count * Self.fieldCount)
        for (index, id) in ids.enumerated() {
            let hlc = HLC(milliseconds: 1_790_000_000_000 + UInt64(index), counter: 0)
            for (position, field) in Self.fields.enumerated() {
                changes.append(FieldChange(table: .visit, record: id, field: field, value: values[index][position], hlc: hlc, node: node, base: .zero))
            }
        }
        return changes
    }

    /// The rows as one action each, under `customer`; `manager` names who visited
    /// (a manager records their own visits: the server refuses others' names).
    func edits(customer: String, manager: String? = nil) -> [[RecordEdit]] {
        ids.indices.map { index in
            var row = values[index]
            row[0] = .text(customer)
            if let manager { row[1] = .text(manager) }
            return [RecordEdit(.visit, ids[index], Array(zip(Self.fields, row)).filter { $0.1 != .null })]
        }
    }
}

enum RawSQLite {
    /// The baseline: plain table of the same columns, one transaction, one prepared statement.
    /// `withParentIndex` adds the index a replica keeps on `visits(customer)`,
    /// for a baseline of the replica's table shape.
    static func insert(_ rows: VisitRows, path: String, withParentIndex: Bool = false) throws {
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw BenchError("cannot open \(path)") }
        defer { sqlite3_close(db) }
        try exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-32768")
        let columns = VisitRows.fields.map { "\"\($0)\"" }.joined(separator: ", ")
        try exec(db, "CREATE TABLE visits (id TEXT PRIMARY KEY NOT NULL, \(columns))")
        if withParentIndex { try exec(db, "CREATE INDEX visits_customer ON visits(customer)") }
        try exec(db, "BEGIN")
        var statement: OpaquePointer?
        let placeholders = Array(repeating: "?", count: VisitRows.fieldCount + 1).joined(separator: ", ")
        guard sqlite3_prepare_v2(db, "INSERT INTO visits (id, \(columns)) VALUES (\(placeholders))", -1, &statement, nil) == SQLITE_OK else {
            throw BenchError("prepare failed")
        }
        defer { sqlite3_finalize(statement) }
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        for (index, id) in rows.ids.enumerated() {
            sqlite3_bind_text(statement, 1, id, -1, transient)
            for (position, value) in rows.values[index].enumerated() {
                switch value {
                case .null: sqlite3_bind_null(statement, Int32(position + 2))
                case .int(let number): sqlite3_bind_int64(statement, Int32(position + 2), number)
                case .text(let text): sqlite3_bind_text(statement, Int32(position + 2), text, -1, transient)
                }
            }
            guard sqlite3_step(statement) == SQLITE_DONE else { throw BenchError("insert failed") }
            sqlite3_reset(statement)
        }
        try exec(db, "COMMIT")
    }

    private static func exec(_ db: OpaquePointer?, _ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw BenchError("\(sql): \(String(cString: sqlite3_errmsg(db)))") }
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Flushes what the kernel still holds for earlier phases, so each measured
/// phase starts on a quiet disk instead of absorbing their writeback.
func quietDisk() { sync() }

func measure(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func measureAsync(_ body: () async throws -> Void) async rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func report(_ label: String, rate: Double, unit: String, extra: String? = nil) {
    let figure = String(format: "%10.0f %@", rate, unit)
    print("\(label.padding(toLength: 72, withPad: " ", startingAt: 0)) \(figure)\(extra.map { "  (\($0))" } ?? "")")
}

func peakResidentBytes() -> Int {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted[sorted.count / 2]
}
