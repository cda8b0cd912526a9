import Crypto
import FieldSyncModel
@testable import FieldSyncProtocol
import Foundation
import Testing

/// The digest a signed page gives each mutation (Protocol/SYNC.md, Signed pages):
/// pinned by a vector, and the same as the definition (each change encoded, the
/// encodings sorted, hashed after the head) over random mutations in any order.
@Suite struct MutationDigestTests {
    static let node = NodeID(rawValue: 0x00A1_B2C3_D4E5_F607)

    static let vector = Mutation(origin: node, counter: 42, changes: [
        FieldChange(table: .visit, record: "a0000000-0000-4000-8000-000000000001", field: "summary", value: .text("检查了 3 个站点 \"ok\""),
                    hlc: HLC(rawValue: 0x0001_9A00_0000_0001), node: node, base: HLC(rawValue: 7)),
        FieldChange(table: .customer, record: "a0000000-0000-4000-8000-000000000002", field: "level", value: .text("vip"),
                    hlc: HLC(rawValue: 0x0001_9A00_0000_0002), node: node, base: .zero),
        FieldChange(table: .visit, record: "a0000000-0000-4000-8000-000000000001", field: "at", value: .null,
                    hlc: HLC(rawValue: 0x0001_9A00_0000_0001), node: node, base: .zero),
        FieldChange(table: .agreement, record: "a0000000-0000-4000-8000-000000000003", field: "restore_hours", value: .int(-4),
                    hlc: HLC(rawValue: 0x0001_9A00_0000_0003), node: node, base: HLC(rawValue: UInt64.max)),
    ])

    @Test func theVectorsDigestIsPinned() {
        let hex = MutationDigest.of(Self.vector).map { String(format: "%02x", $0) }.joined()
        #expect(hex == "6b5afd1d86214f78d0cb7c7244e8f644")
    }

    /// The definition, written plainly: the fast digest must equal it.
    static func reference(_ mutation: Mutation) -> [UInt8] {
        var hasher = SHA256()
        var head = Array("fieldsync-mutation-v1".utf8)
        withUnsafeBytes(of: mutation.origin.rawValue.bigEndian) { head.append(contentsOf: $0) }
        withUnsafeBytes(of: mutation.counter.bigEndian) { head.append(contentsOf: $0) }
        hasher.update(data: head)
        for change in mutation.changes.map(MutationDigest.encode).sorted(by: { $0.lexicographicallyPrecedes($1) }) { hasher.update(data: change) }
        return Array(hasher.finalize().prefix(16))
    }

    @Test func theDigestIsTheDefinitionInAnyOrder() {
        var random = SplitMix64(seed: 0xD16E57)
        for _ in 0..<300 {
            var mutation = WireJSONDifferentialTests.mutation(&random)
            #expect(MutationDigest.of(mutation) == Self.reference(mutation))
            let digest = MutationDigest.of(mutation)
            mutation.changes.shuffle(using: &random)
            #expect(MutationDigest.of(mutation) == digest, "the order of the changes does not matter")
            if let first = mutation.changes.first {
                mutation.changes.append(first)
                #expect(MutationDigest.of(mutation) == Self.reference(mutation), "a repeated change")
            }
        }
    }
}
