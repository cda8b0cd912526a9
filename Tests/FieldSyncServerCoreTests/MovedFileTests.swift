import FieldSyncModel
@testable import FieldSyncServerCore
import Testing

/// `MovedFile.moved`: which records a write moved, as both engines log them again.
@Suite struct MovedFileTests {
    @Test func onlyRecordsWhoseOwnerChangedInAFixedOrder() {
        let hangzhou = CustomerScope(branch: "Hangzhou", manager: "Li Wei"), ningbo = CustomerScope(branch: "Ningbo", manager: "Wang Fang")
        let customerA = RecordKey(table: .customer, record: "a"), customerB = RecordKey(table: .customer, record: "b")
        let visit = RecordKey(table: .visit, record: "v"), contact = RecordKey(table: .contact, record: "c")
        let fresh = RecordKey(table: .fault, record: "new")
        let before: [RecordKey: RecordOwner] = [
            customerB: .customer("b", hangzhou), customerA: .customer("a", hangzhou),
            visit: .customer("a", hangzhou), contact: .customer("a", hangzhou), fresh: .unknown,
        ]
        let after: [RecordKey: RecordOwner] = [
            customerA: .customer("a", hangzhou),  // unchanged
            customerB: .customer("b", ningbo),  // handed over
            visit: .customer("b", ningbo),  // moved to another file
            contact: .unknown,  // its customer is unknown now
            fresh: .customer("a", hangzhou),
        ]
        let moved = MovedFile.moved(before: before, after: { after[$0] ?? .unknown })
        #expect(moved.map(\.key) == [contact, customerB, visit])
        #expect(moved[1].scopeChange?.old == hangzhou && moved[1].scopeChange?.new == ningbo && moved[1].customer == "b")
        #expect(moved[2].scopeChange == nil && moved[2].customer == "b" && moved[2].from == hangzhou)
        #expect(moved[0].customer == nil && moved[0].scopeChange == nil)
    }
}
