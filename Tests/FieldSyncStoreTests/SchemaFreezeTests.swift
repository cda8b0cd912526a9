import FieldSyncModel
import FieldSyncStore
import FieldSyncTestSupport
import GRDB
import Testing

/// The replica's migrations are literal SQL, frozen once committed, while the
/// record schemas live in Swift. These tests tie the two together: a field added,
/// moved or renamed in a schema without a migration fails here, not on a laptop.
@Suite struct SchemaFreezeTests {
    /// Every kind's fields in storage order. Stamps (`_stamps`) and the server's log rows
    /// name a field by its position, so positions never change: a new field goes at the
    /// end of its kind, here and in a new migration that adds its column.
    static let frozen: [RecordKind: [String]] = [
        .customer: ["name", "branch", "level", "manager", "services", "notes", "archived", "team", "since", "language"],
        .contact: ["customer", "name", "role", "phone", "email", "billing", "removed"],
        .agreement: ["customer", "number", "starts", "ends", "removed", "restore_hours", "renewal_notice_at", "renewed_at",
                     "termination_notice_at"],
        .visit: ["customer", "manager", "at", "kind", "participants", "summary", "requests", "actions", "complaint", "removed"],
        .fault: ["customer", "symptom", "scope", "occurred_at", "reported_at", "owner", "dispatch", "restore_by", "first_feedback_at",
                 "restored_at", "report_delivered_at", "status", "level", "ticket", "dispatched_to", "site"],
        .faultNote: ["fault", "at", "author", "text"],
        .complaint: ["customer", "channel", "content", "received_at", "owner", "first_feedback_at", "resolved_at", "result",
                     "escalated_at", "escalation_reason", "closed_at", "report", "status", "level"],
        .complaintNote: ["complaint", "at", "author", "text"],
        .conflict: ["table", "record", "field", "lost_value", "lost_node", "lost_hlc", "kept_value", "kept_node", "kept_hlc", "resolved",
                    "resolution"],
        .calendarDay: ["date", "kind", "name", "removed"],
        .branch: ["name", "removed"],
        .setting: ["restoration_hours", "restoration_hours_vip"],
        .handover: ["customer", "at", "previous", "manager"],
    ]

    @Test func fieldsKeepTheirPositions() {
        for kind in RecordKind.allCases {
            let fields = kind.schema.fields.map(\.name)
            guard let frozen = Self.frozen[kind] else {
                Issue.record("\(kind.rawValue) is a new kind: add its table in a new replica migration and its fields here")
                continue
            }
            #expect(Array(fields.prefix(frozen.count)) == frozen,
                    "\(kind.rawValue): a field moved, was renamed or was removed; stored stamps and log rows name fields by position")
            #expect(fields.count == frozen.count,
                    "\(kind.rawValue) has new fields \(fields.dropFirst(frozen.count)): add their columns in a new replica migration, then list them here")
        }
    }

    /// A new replica's tables, built by the frozen migrations, are what the schemas describe.
    @Test func aNewReplicaHasEveryColumnOfTheSchemas() throws {
        let folder = try TemporaryFolder()
        let replica = try Replica.open(path: folder.path("replica.sqlite"))
        try replica.close()
        let queue = try DatabaseQueue(path: folder.path("replica.sqlite"))
        try queue.read { db in
            for kind in RecordKind.allCases {
                let columns = try db.columns(in: kind.rawValue).map(\.name)
                // In any order: a column added by a later migration comes after `_stamps`, and every read names its columns.
                #expect(columns.sorted() == (["id"] + kind.schema.fields.map(\.name) + ["_stamps"]).sorted(), "\(kind.rawValue)")
                if let parent = kind.schema.parentField?.name {
                    let indexed = try db.indexes(on: kind.rawValue).contains { $0.columns == [parent] }
                    #expect(indexed, "\(kind.rawValue) is read by its \(parent): it needs an index on it")
                }
            }
        }
    }

    /// A replica made before the calendar, the team, the branch list and the handbook fields
    /// (its tables as the first build made them) ends with every column of the schemas.
    @Test func aReplicaOfTheFirstLayoutGainsEveryColumn() throws {
        let folder = try TemporaryFolder()
        let path = folder.path("replica.sqlite")
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: """
                CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                INSERT INTO grdb_migrations VALUES ('v1'), ('v2-sync');
                CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                CREATE TABLE customers (id TEXT PRIMARY KEY NOT NULL, "name", "branch", "level", "manager", "services", "notes", "archived",
                    _stamps BLOB NOT NULL);
                CREATE TABLE contacts (id TEXT PRIMARY KEY NOT NULL, "customer", "name", "role", "phone", "email", "billing", "removed",
                    _stamps BLOB NOT NULL);
                CREATE TABLE agreements (id TEXT PRIMARY KEY NOT NULL, "customer", "number", "starts", "ends", "removed", _stamps BLOB NOT NULL);
                CREATE TABLE visits (id TEXT PRIMARY KEY NOT NULL, "customer", "manager", "at", "kind", "participants", "summary", "requests",
                    "actions", "complaint", "removed", _stamps BLOB NOT NULL);
                CREATE TABLE faults (id TEXT PRIMARY KEY NOT NULL, "customer", "symptom", "scope", "occurred_at", "reported_at", "owner",
                    "dispatch", "restore_by", "first_feedback_at", "restored_at", "report_delivered_at", "status", _stamps BLOB NOT NULL);
                CREATE TABLE fault_notes (id TEXT PRIMARY KEY NOT NULL, "fault", "at", "author", "text", _stamps BLOB NOT NULL);
                CREATE TABLE complaints (id TEXT PRIMARY KEY NOT NULL, "customer", "channel", "content", "received_at", "owner",
                    "first_feedback_at", "resolved_at", "result", "escalated_at", "escalation_reason", "closed_at", "report", "status",
                    _stamps BLOB NOT NULL);
                CREATE TABLE complaint_notes (id TEXT PRIMARY KEY NOT NULL, "complaint", "at", "author", "text", _stamps BLOB NOT NULL);
                CREATE TABLE conflicts (id TEXT PRIMARY KEY NOT NULL, "table", "record", "field", "lost_value", "lost_node", "lost_hlc",
                    "kept_value", "kept_node", "kept_hlc", "resolved", "resolution", _stamps BLOB NOT NULL);
                CREATE TABLE outbox (counter INTEGER PRIMARY KEY NOT NULL, hlc INTEGER NOT NULL, body BLOB NOT NULL);
                CREATE TABLE rejections (counter INTEGER PRIMARY KEY NOT NULL, reason TEXT NOT NULL);
                """)
        }
        try queue.close()
        let replica = try Replica.open(path: path)
        try replica.close()
        let migrated = try DatabaseQueue(path: path)
        try migrated.read { db in
            for kind in RecordKind.allCases {
                let columns = try db.columns(in: kind.rawValue).map(\.name)
                #expect(Set(columns) == Set(["id", "_stamps"] + kind.schema.fields.map(\.name)), "\(kind.rawValue)")
            }
        }
    }
}
