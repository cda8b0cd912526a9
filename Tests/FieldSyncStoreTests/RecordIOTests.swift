import FieldSyncModel
import FieldSyncStore
import FieldSyncTestSupport
import Testing

/// `RecordIO` binds text from a string's own bytes: every value must read back
/// exactly, the empty text as empty (not NULL), whatever its script or length.
@Suite struct RecordIOTests {
    @Test func textReadsBackExactly() throws {
        let folder = try TemporaryFolder()
        let replica = try Replica.open(path: folder.path("replica.sqlite"))
        try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0x10), branch: nil, user: nil, createdAt: ""))
        let texts = ["", "a", "short name 15ch", "客户拜访记录 ✓ — naïve", String(repeating: "长", count: 3_000), "nul\u{0}inside", "emoji 🛰️"]
        var changes: [FieldChange] = []
        for (number, text) in texts.enumerated() {
            let record = "c0000000-0000-4000-8000-00000000000\(number)"
            for (field, value) in [("name", FieldValue.text(text)), ("notes", .text(text)), ("level", .text("vip"))] {
                changes.append(FieldChange(table: .customer, record: record, field: field, value: value,
                                           hlc: HLC(milliseconds: 1_795_000_000_000, counter: UInt16(number)), node: NodeID(rawValue: 0xB0B), base: .zero))
            }
        }
        try replica.apply(remote: changes)
        for (number, text) in texts.enumerated() {
            let stored = try #require(try replica.record(.customer, "c0000000-0000-4000-8000-00000000000\(number)"))
            #expect(stored.state.value("name", in: RecordKind.customer.schema) == .text(text))
            #expect(stored.state.value("notes", in: RecordKind.customer.schema) == .text(text))
            #expect(stored.state.value("branch", in: RecordKind.customer.schema) == .null)
        }
        // Looked up by a text value too (the id and a field both bound from their bytes).
        #expect(try replica.records(.customer, where: "name", equals: .text("")).count == 1)
    }
}
