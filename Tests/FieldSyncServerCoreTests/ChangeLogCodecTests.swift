@testable import FieldSyncModel
@testable import FieldSyncServerCore
import Testing

/// A field a newer peer added is kept in a log row by name (`ChangeLogCodec`, field 255) and
/// read back as it was, in its place among the fields this version knows; a name that cannot be
/// a field's is refused, never written.
@Suite struct ChangeLogCodecTests {
    static let node = NodeID(rawValue: 0xA1)

    static func change(_ field: String, _ value: FieldValue, hlc: UInt64 = 1 << 20) -> FieldChange {
        FieldChange(table: .visit, record: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", field: field, value: value,
                    hlc: HLC(rawValue: hlc), node: node, base: .zero)
    }

    @Test func aFieldThisVersionDoesNotKnowIsKeptByNameInItsPlace() throws {
        let changes = [Self.change("summary", .text("site survey")), Self.change("weather", .text("rain")),
                       Self.change("kind", .text("routine"), hlc: 2 << 20), Self.change("wind_speed", .int(12))]
        let bytes = try ChangeLogCodec.encode(changes, schema: RecordKind.visit.schema)
        var decoded: [FieldChange] = []
        try bytes.withUnsafeBytes { try ChangeLogCodec.decode($0, table: .visit, record: changes[0].record, into: &decoded) }
        #expect(decoded == changes)
        // Rows of known fields only are written as before (byte for byte: the frozen rows read alike).
        let known = [Self.change("summary", .text("x"))]
        #expect(try ChangeLogCodec.encode(known, schema: RecordKind.visit.schema).contains(255) == false)
    }

    @Test(arguments: ["", "Weather", "1st", "we ather", "wéather", String(repeating: "a", count: 65), "x\u{1B}[2J"])
    func aNameThatCannotBeAFieldsIsRefused(name: String) {
        #expect(throws: ChangeLogCodec.Malformed.self) { try ChangeLogCodec.encode([Self.change(name, .text("v"))], schema: RecordKind.visit.schema) }
    }

    @Test func aRowNamingABadFieldIsMalformed() throws {
        // field 255, a name of length 2 with a space, stamp 0, null.
        var bytes = try ChangeLogCodec.encode([Self.change("ab", .null)], schema: RecordKind.visit.schema)
        let at = bytes.firstIndex(of: UInt8(ascii: "a"))!
        bytes[at] = UInt8(ascii: " ")
        var decoded: [FieldChange] = []
        #expect(throws: ChangeLogCodec.Malformed.self) {
            try bytes.withUnsafeBytes { try ChangeLogCodec.decode($0, table: .visit, record: "r", into: &decoded) }
        }
    }
}
