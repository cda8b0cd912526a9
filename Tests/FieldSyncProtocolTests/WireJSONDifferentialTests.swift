import FieldSyncModel
import FieldSyncProtocol
import FieldSyncTestSupport
import Foundation
import Testing

/// The hand-written sync JSON against the Codable oracle, over random messages
/// that fill every field of both (issue 26, item 4: `left`, `returned`, `below`
/// and `signed` were never compared). Each message goes writer → reader in all
/// four pairings and must come back equal. A failure prints its seed;
/// `FIELDSYNC_SEED=<seed> swift test --filter WireJSONDifferential` replays from it.
@Suite struct WireJSONDifferentialTests {
    static let cases = 300

    @Test func everyFieldReadsBackThroughEitherCodec() throws {
        let first = Environment.value("FIELDSYNC_SEED").flatMap(UInt64.init) ?? 0x5EED_0026
        for offset in 0..<UInt64(Self.cases) {
            let seed = first &+ offset
            var random = SplitMix64(seed: seed)
            let request = Self.request(&random)
            let fast = WireJSON.syncRequest(cursor: request.cursor, clientTime: request.clientTime, maxChanges: request.maxChanges,
                                            follows: request.follows, pending: request.pending, below: request.below, signed: request.signed,
                                            incarnation: request.incarnation,
                                            mutationBodies: request.mutations.map { $0.jsonBytes() })
            let codable = try JSONEncoder().encode(request)
            #expect(try WireJSON.decodeSyncRequest(fast) == request, "request, seed \(seed)")
            #expect(try JSONDecoder().decode(SyncRequest.self, from: Data(fast)) == request, "request (Codable reads the fast JSON), seed \(seed)")
            #expect(try WireJSON.decodeSyncRequest(codable) == request, "request (the fast reader reads Codable's JSON), seed \(seed)")

            let response = Self.response(&random)
            let fastResponse = WireJSON.encode(response)
            #expect(try WireJSON.decodeSyncResponse(fastResponse) == response, "response, seed \(seed)")
            #expect(try JSONDecoder().decode(SyncResponse.self, from: Data(fastResponse)) == response, "response (Codable), seed \(seed)")
            #expect(try WireJSON.decodeSyncResponse(JSONEncoder().encode(response)) == response, "response (from Codable), seed \(seed)")
        }
    }

    // MARK: Random messages

    static let texts = ["", "plain", "quote \" and \\ backslash", "line\nbreak\ttab\r", "中文 客户经理", "emoji 📡", "\u{01}\u{1F}control",
                        "</script>", "\u{2028}\u{2029}", "é (e + combining \u{0301})"]

    static func text(_ random: inout SplitMix64) -> String {
        if Bool.random(using: &random) { return texts.randomElement(using: &random)! }
        // Any scalar but NUL and the surrogates: what a person may type.
        let count = Int.random(in: 0...12, using: &random)
        return String(String.UnicodeScalarView((0..<count).map { _ in
            var value = UInt32.random(in: 1...0x10FFFF, using: &random)
            if (0xD800...0xDFFF).contains(value) { value = 0x4E2D }
            return Unicode.Scalar(value)!
        }))
    }

    static func id(_ random: inout SplitMix64) -> String { RecordID.make(using: &random) }

    static func node(_ random: inout SplitMix64) -> NodeID { NodeID(rawValue: random.next()) }

    static func change(_ random: inout SplitMix64) -> FieldChange {
        let table = RecordKind.allCases.randomElement(using: &random)!
        let value: FieldValue = switch Int.random(in: 0..<3, using: &random) {
        case 0: .null
        case 1: .int(Int64(bitPattern: random.next()))
        default: .text(text(&random))
        }
        return FieldChange(table: table, record: id(&random), field: table.schema.fields.randomElement(using: &random)!.name, value: value,
                           hlc: HLC(rawValue: random.next()), node: node(&random), base: HLC(rawValue: random.next()))
    }

    static func mutation(_ random: inout SplitMix64) -> Mutation {
        let origin = node(&random)
        // Runs of one record, as a write makes them, and records that come back later in the list.
        var changes: [FieldChange] = []
        for _ in 0..<Int.random(in: 0...6, using: &random) {
            var next = change(&random)
            next.node = origin
            if let last = changes.last, Bool.random(using: &random) {
                next.table = last.table
                next.record = last.record
                next.field = last.table.schema.fields.randomElement(using: &random)!.name
            }
            changes.append(next)
        }
        return Mutation(origin: origin, counter: UInt64.random(in: 1...UInt64(Int64.max), using: &random),
                        user: Bool.random(using: &random) ? text(&random) : nil, changes: changes)
    }

    static func bytes(_ count: Int, _ random: inout SplitMix64) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) } }

    static func request(_ random: inout SplitMix64) -> SyncRequest {
        let mutations = (0..<Int.random(in: 0...4, using: &random)).map { _ in mutation(&random) }
        let below = Bool.random(using: &random) ? FreshnessReport(
            completeUpTo: Bool.random(using: &random) ? random.next() : nil, devices: Int.random(in: 0...1_000_000, using: &random),
            pending: Int.random(in: 0...1_000_000_000_000, using: &random), notSeenForThreeDays: Int.random(in: 0...1_000_000, using: &random),
            names: (0..<Int.random(in: 0...2, using: &random)).map { _ in
                func name(_ lead: String) -> String { String(String.UnicodeScalarView((lead + text(&random)).unicodeScalars.prefix(FreshnessReport.maxNameLength))) }
                return Directory.Entry(node: node(&random), user: name("u"), device: name("d"))
            }) : nil
        let signed = (0..<Int.random(in: 0...2, using: &random)).map { _ in
            SignedPage(node: node(&random), key: bytes(32, &random), entries: bytes(SignedPage.entrySize * Int.random(in: 0...3, using: &random), &random),
                       signature: bytes(64, &random))
        }
        return SyncRequest(cursor: Int64.random(in: 0...Int64.max, using: &random), mutations: mutations,
                           clientTime: UInt64.random(in: 0...UInt64(Int64.max), using: &random),
                           maxChanges: Bool.random(using: &random) ? Int.random(in: 0...100_000, using: &random) : nil,
                           follows: Bool.random(using: &random) ? UInt64.random(in: 1...UInt64(Int64.max), using: &random) : nil,
                           pending: Bool.random(using: &random) ? Int.random(in: 0...1_000_000_000, using: &random) : nil,
                           below: below, signed: signed, incarnation: Bool.random(using: &random) ? Incarnation.make() : nil)
    }

    static func response(_ random: inout SplitMix64) -> SyncResponse {
        var response = SyncResponse(
            accepted: (0..<Int.random(in: 0...3, using: &random)).map { _ in MutationID(origin: node(&random), counter: random.next() >> 1 | 1) },
            rejected: (0..<Int.random(in: 0...3, using: &random)).map { _ in
                Rejection(origin: node(&random), counter: random.next() >> 1 | 1, reason: text(&random))
            },
            changes: (0..<Int.random(in: 0...8, using: &random)).map { _ in change(&random) },
            cursor: Int64.random(in: 0...Int64.max, using: &random), more: Bool.random(using: &random), serverTime: random.next(),
            left: (0..<Int.random(in: 0...3, using: &random)).map { _ in id(&random) },
            returned: (0..<Int.random(in: 0...2, using: &random)).map { _ in SyncResponse.Returned(mutation: mutation(&random), reason: text(&random)) },
            incarnation: Bool.random(using: &random) ? Incarnation.make() : nil)
        response.instructions = (0..<Int.random(in: 0...2, using: &random)).map { _ in
            SyncResponse.Instruction(counter: random.next() >> 1 | 1, action: Bool.random(using: &random) ? .discard : .note,
                                     note: text(&random), by: text(&random), at: random.next())
        }
        return response
    }
}
