import FieldSyncModel
@testable import FieldSyncProtocol
import Foundation
import Testing

/// Scope digests (Protocol/SYNC.md, "Digests"): pinned by the vector in `Protocol/vectors/digest/`,
/// equal wherever `RecordDrift` finds two states equal and different wherever it reports a
/// difference, whatever order a peer reads or merges its records in.
@Suite struct ScopeDigestTests {
    struct Vector: Decodable {
        struct Expected: Decodable {
            var table: String
            var record: String
            var bucket: Int
            var hash: String
        }

        var changes: [FieldChange]
        var records: [Expected]
        var digest: String
    }

    static let vectorFile = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Protocol/vectors/digest/scope-digest.json")

    static func states(_ changes: [FieldChange]) -> [RecordKey: RecordState] {
        var states: [RecordKey: RecordState] = [:]
        for change in changes {
            let key = RecordKey(table: change.table, record: change.record)
            var state = states[key] ?? RecordState(fieldCount: change.table.schema.fields.count)
            var ignored: [Overwrite] = []
            _ = RecordMerge.apply([change], to: &state, schema: change.table.schema, overwrites: &ignored)
            states[key] = state
        }
        return states
    }

    static func digest(_ states: [RecordKey: RecordState]) -> ScopeDigest {
        var builder = ScopeDigest.Builder()
        for (key, state) in states { builder.add(key, state) }
        return builder.finish()
    }

    @Test func theVectorIsPinned() throws {
        let vector = try JSONDecoder().decode(Vector.self, from: Data(contentsOf: Self.vectorFile))
        let states = Self.states(vector.changes)
        #expect(states.count == vector.records.count)
        for expected in vector.records {
            let key = RecordKey(table: try #require(RecordKind(rawValue: expected.table)), record: expected.record)
            let state = try #require(states[key])
            #expect(ScopeDigest.bucket(of: key) == expected.bucket, "\(expected.record)")
            #expect(ScopeDigest.hex(ScopeDigest.recordHash(key, state)) == expected.hash, "\(expected.record)")
        }
        #expect(ScopeDigest.hex(Self.digest(states).top) == vector.digest)
    }

    static let nodes = [NodeID(rawValue: 0xA), NodeID(rawValue: 0xB), NodeID(rawValue: 0xC)]

    /// A random write; a node never writes twice under one HLC, so HLCs are drawn from a wide range.
    static func randomChange<G: RandomNumberGenerator>(_ records: [RecordKey], using random: inout G) -> FieldChange {
        let key = records.randomElement(using: &random)!
        let field = [("summary", true), ("kind", true), ("at", true)].randomElement(using: &random)!.0
        let value: FieldValue = [.null, .text("one"), .text("two"), .text("三")].randomElement(using: &random)!
        return FieldChange(table: key.table, record: key.record, field: key.table == .visit ? field : "name", value: value,
                           hlc: HLC(rawValue: UInt64.random(in: 1...1_000_000_000, using: &random)), node: nodes.randomElement(using: &random)!,
                           base: HLC(rawValue: UInt64.random(in: 0...3, using: &random)))
    }

    /// Two peers merging the same changes in different orders hold equal states: their digests agree.
    @Test func theOrderOfMergesAndReadsDoesNotMatter() {
        var random = SplitMix64(seed: 30)
        for _ in 0..<200 {
            let records = (0..<Int.random(in: 1...40, using: &random)).map { _ in
                RecordKey(table: Bool.random(using: &random) ? .visit : .customer, record: RecordID.make(using: &random))
            }
            let changes = (0..<Int.random(in: 1...120, using: &random)).map { _ in Self.randomChange(records, using: &random) }
            let first = Self.states(changes)
            let second = Self.states(changes.shuffled(using: &random))
            #expect(first == second)
            var builder = ScopeDigest.Builder()
            for (key, state) in second.shuffled(using: &random) { builder.add(key, state) }
            #expect(Self.digest(first) == builder.finish())
        }
    }

    /// A record's hash changes exactly when `RecordDrift` reports a difference, and then only its bucket differs.
    @Test func aDigestDiffersExactlyWhereTheComparisonFindsDrift() {
        var random = SplitMix64(seed: 2027)
        for _ in 0..<400 {
            let records = (0..<Int.random(in: 1...30, using: &random)).map { _ in RecordKey(table: .visit, record: RecordID.make(using: &random)) }
            let shared = (0..<Int.random(in: 1...60, using: &random)).map { _ in Self.randomChange(records, using: &random) }
            let here = Self.states(shared)
            var server = here
            // The server differs in one record: a change it lacks, a value altered under the same stamp, or a base only.
            let key = records.randomElement(using: &random)!
            var state = server[key] ?? RecordState(fieldCount: key.table.schema.fields.count)
            switch Int.random(in: 0..<3, using: &random) {
            case 0:
                var ignored: [Overwrite] = []
                let change = Self.randomChange([key], using: &random)
                _ = RecordMerge.apply([change], to: &state, schema: key.table.schema, overwrites: &ignored)
            case 1:
                if let index = state.stamps.firstIndex(where: { $0 != nil }) { state.values[index] = .text("altered outside FieldSync") }
            default:
                if let index = state.stamps.firstIndex(where: { $0 != nil }) { state.stamps[index]?.base = HLC(rawValue: 99) }
            }
            server[key] = state
            let drifted = RecordDrift.compare(key, here: here[key], server: server[key]) != nil
            let ours = Self.digest(here), theirs = Self.digest(server)
            #expect((ScopeDigest.recordHash(key, here[key] ?? RecordState(fieldCount: key.table.schema.fields.count))
                        != ScopeDigest.recordHash(key, state)) == drifted || here[key] == nil)
            if drifted {
                #expect(ours.differing(from: theirs) == [ScopeDigest.bucket(of: key)])
                #expect(ours.top != theirs.top)
            } else if here[key] != nil {
                #expect(ours == theirs)
            }
        }
    }

    @Test func requestsAndAnswersRoundTripAndRefuseWhatIsOutOfBounds() throws {
        var random = SplitMix64(seed: 5)
        let records = (0..<50).map { _ in RecordKey(table: .visit, record: RecordID.make(using: &random)) }
        let states = Self.states((0..<100).map { _ in Self.randomChange(records, using: &random) })
        let digest = Self.digest(states)
        #expect(try DigestRequest.decode(DigestRequest(digest: digest).jsonBytes()) == DigestRequest(digest: digest))
        #expect(ScopeDigest.hash(hex: ScopeDigest.schema) != nil)

        let changes = states.flatMap { $0.value.changes(table: $0.key.table, record: $0.key.record) }
        var answer = DigestAnswer(digest: digest.top, records: 50, cursor: 77, differing: [3, 200], complete: true, changes: changes)
        answer.schema = ScopeDigest.schema
        let read = try DigestAnswer.decode(answer.jsonBytes())
        #expect(read.digest == answer.digest && read.records == 50 && read.cursor == 77 && read.differing == [3, 200] && read.complete)
        #expect(read.schema == ScopeDigest.schema)
        #expect(Set(read.changes) == Set(changes))

        let hex = digest.buckets.map(ScopeDigest.hex)
        func request(_ buckets: [String], records: String = "3", schema: String? = ScopeDigest.schema) -> [UInt8] {
            let named = schema.map { #""schema":"\#($0)","# } ?? ""
            return Array(#"{\#(named)"buckets":[\#(buckets.map { "\"\($0)\"" }.joined(separator: ","))],"records":\#(records)}"#.utf8)
        }
        #expect(try DigestRequest.decode(request(hex)).digest == digest.withRecords(3))
        for bad in [request(Array(hex.dropLast())), request(hex + [hex[0]]), request(hex, records: "-1"), request(hex, records: "1e99"),
                    request([String(repeating: "A", count: 64)] + hex.dropFirst()), request([String(hex[0].dropLast())] + hex.dropFirst()),
                    request(["zz" + hex[0].dropFirst(2)] + hex.dropFirst()), Array(#"{"records":0}"#.utf8), Array("[]".utf8),
                    request(hex, schema: nil), request(hex, schema: "v2"), request(hex, schema: String(repeating: "a", count: 65))] {
            // A decoding error, or a string over the request's 64 characters (the route answers 400 to both).
            #expect(throws: (any Error).self) { try DigestRequest.decode(bad) }
        }
        let answerWith = { (differing: String) in Array(#"{"digest":"\#(hex[0])","records":1,"cursor":0,"differing":\#(differing),"complete":true,"changes":[]}"#.utf8) }
        #expect(try DigestAnswer.decode(answerWith("[0,255]")).differing == [0, 255])
        for bad in ["[256]", "[-1]", "[\"1\"]", "[" + (0...256).map(String.init).joined(separator: ",") + "]"] {
            #expect(throws: WireJSON.DecodingError.self) { try DigestAnswer.decode(answerWith(bad)) }
        }
    }
}

extension ScopeDigest {
    func withRecords(_ count: Int) -> ScopeDigest? { ScopeDigest(buckets: buckets, records: count) }
}
