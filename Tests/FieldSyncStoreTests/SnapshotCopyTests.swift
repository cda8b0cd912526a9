import FieldSyncModel
@testable import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// When every file is in a snapshot's scope, the tables are copied whole and
/// what belongs to no file is deleted after: the result must be exactly what
/// the row-by-row copy keeps, orphans (records whose file is not stored) included.
@Suite struct SnapshotCopyTests {
    /// Issue 26, item 3: the copy list is derived from the schemas, so a new record kind cannot be
    /// left out of new devices' snapshots: every kind once, each after the kind it hangs from,
    /// conflicts after every subject they may name.
    @Test func everyKindIsCopiedOnceAfterItsParent() {
        let order = Replica.snapshotTables.map(\.0)
        #expect(order.count == RecordKind.allCases.count && Set(order) == Set(RecordKind.allCases), "\(order)")
        for (position, kind) in order.enumerated() {
            if let parent = kind.parentKind {
                #expect(order.firstIndex(of: parent).map { $0 < position } == true, "\(kind) is copied before its parent \(parent)")
            }
        }
        #expect(order.last == .conflict)
        #expect(RecordKind.fault.childKinds == [.faultNote] && RecordKind.customer.childKinds == [.contact, .agreement, .visit, .fault, .complaint, .handover])
    }

    @Test func theWholeTableCopyKeepsExactlyWhatTheRowCopyKeeps() throws {
        let folder = try TemporaryFolder()
        let source = try Replica.open(path: folder.path("source.sqlite"))
        try source.initialize(ReplicaIdentity(node: NodeID(rawValue: 0x5E), branch: nil, user: nil, createdAt: ""))
        var generator = SplitMix64(seed: 0x5A4)
        func id() -> String { RecordID.make(using: &generator) }
        var clock: UInt64 = 1_795_000_000_000
        var changes: [FieldChange] = []
        func write(_ table: RecordKind, _ record: String, _ fields: [(String, FieldValue)]) {
            clock += 1
            for (field, value) in fields {
                changes.append(FieldChange(table: table, record: record, field: field, value: value,
                                           hlc: HLC(milliseconds: clock, counter: 0), node: NodeID(rawValue: 0xB0B), base: .zero))
            }
        }
        let customers = [id(), id()], gone = id()
        for customer in customers {
            write(.customer, customer, [("name", .text("Customer")), ("level", .text("vip")), ("branch", .text("Hangzhou"))])
        }
        var visits: [String] = []
        for number in 0..<20 {
            let visit = id()
            visits.append(visit)
            write(.visit, visit, [("customer", .text(number < 18 ? customers[number % 2] : gone)), ("summary", .text("visit \(number)"))])
        }
        let orphan = visits[19]
        let fault = id(), lostFault = id()
        write(.fault, fault, [("customer", .text(customers[0])), ("symptom", .text("alarm"))])
        write(.faultNote, id(), [("fault", .text(fault)), ("text", .text("crew sent"))])
        write(.faultNote, id(), [("fault", .text(lostFault)), ("text", .text("no fault here"))])
        write(.visit, id(), [("summary", .text("no customer at all"))])
        for subject in [visits[0], orphan] {
            write(.conflict, id(), [("table", .text(RecordKind.visit.rawValue)), ("record", .text(subject)), ("field", .text("summary")),
                                    ("lost_node", .text("b0b")), ("lost_hlc", .int(1))])
        }
        write(.calendarDay, id(), [("date", .text("2026-10-01")), ("kind", .text("holiday"))])
        try source.apply(remote: changes)

        let everything: (String, String?, String?, String?) -> Bool = { _, _, _, _ in true }
        let whole = try Replica.writeSnapshot(from: folder.path("source.sqlite"), to: folder.path("whole.sqlite")) { _ in (7, everything) }
        let rows = try Replica.writeSnapshot(from: folder.path("source.sqlite"), to: folder.path("rows.sqlite"), wholeTables: false) { _ in (7, everything) }
        #expect(whole.records == rows.records && whole.cursor == 7)
        let wholeReplica = try Replica.open(path: folder.path("whole.sqlite"))
        let rowsReplica = try Replica.open(path: folder.path("rows.sqlite"))
        for kind in RecordKind.allCases {
            #expect(try wholeReplica.records(kind) == rowsReplica.records(kind), "\(kind)")
        }
        #expect(try wholeReplica.records(.visit).count == 18 && wholeReplica.record(.visit, orphan) == nil)
        #expect(try wholeReplica.records(.faultNote).count == 1 && wholeReplica.records(.conflict).count == 1)
        #expect(try wholeReplica.records(.calendarDay).count == 1 && wholeReplica.records(.customer).count == 2)
        #expect(whole.records == 2 + 18 + 1 + 1 + 1 + 1)
        for replica in [wholeReplica, rowsReplica, source] { try replica.close() }
    }
}
