import FieldSyncClient
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// Random work on three laptops sharing a branch's files, synced in random
/// order through a real server on each engine: every schedule converges, every
/// replica stays sound and sends everything, nothing is refused, and the server
/// holds what the laptops hold. `FIELDSYNC_ENGINE_CASES` sets how many schedules
/// run per engine (default 6).
@Suite struct EnginePropertyTests {
    static let cases = ProcessInfo.processInfo.environment["FIELDSYNC_ENGINE_CASES"].flatMap(Int.init) ?? 6

    @Test(arguments: EngineKind.available)
    func randomSchedulesConverge(engine: EngineKind) async throws {
        for seed in 1...UInt64(Self.cases) {
            let clock = TestClock()
            try await TestServer.run(on: engine, clock: clock.now) { server in
                try await Self.schedule(seed: seed &* 7_919, server: server, clock: clock, engine: engine)
            }
        }
    }

    static func schedule(seed: UInt64, server: TestServer, clock: TestClock, engine: EngineKind) async throws {
        var random = SplitMix64(seed: seed)
        let folder = try TemporaryFolder()
        let names = ["Ann", "Ben", "Cai"]
        var laptops: [Laptop] = []
        for name in names { laptops.append(try await Laptop.enrol(name, server: server, folder: folder, clock: clock.now)) }
        let context = "\(engine) seed \(seed)"
        do {
            let customers = try Self.sharedCustomers(of: laptops, random: &random)
            for laptop in laptops + laptops { #expect(try await laptop.sync().rejected.isEmpty, "\(context)") }

            for step in 0..<30 {
                clock.advance(1 + random.next() % 5_000)
                let laptop = laptops[Int(random.next() % UInt64(laptops.count))]
                let customer = customers[Int(random.next() % UInt64(customers.count))]
                switch random.next() % 4 {
                case 0, 1:
                    let field = ["notes", "services", "level"][Int(random.next() % 3)]
                    let value: FieldValue = field == "level" ? .text(random.next() % 2 == 0 ? "vip" : "standard") : .text("\(laptop.name) step \(step)")
                    try laptop.replica.write([RecordEdit(.customer, customer, [(field, value)])])
                case 2:
                    try laptop.replica.write([RecordEdit(.visit, RecordID.make(using: &random), [
                        ("customer", .text(customer)), ("at", .text("2026-11-2\(step % 9)T09:00:00+08:00")), ("kind", .text("routine")),
                        ("summary", .text("\(laptop.name) step \(step)"))])])
                default:
                    let summary = try await laptop.sync()
                    #expect(summary.rejected.isEmpty, "\(context): \(summary.rejected)")
                }
            }
            // Everyone syncs until nothing moves: then every replica holds the same records.
            for _ in 0..<3 {
                for laptop in laptops { #expect(try await laptop.sync().rejected.isEmpty, "\(context)") }
            }
            let dumps = try laptops.map { try $0.dump() }
            #expect(dumps.allSatisfy { $0 == dumps[0] }, "\(context): the replicas differ")
            for laptop in laptops {
                #expect(try laptop.replica.verify().isEmpty, "\(context)")
                #expect(try laptop.replica.outbox().isEmpty, "\(context): \(laptop.name) still has work to send")
            }
            // The server holds what the laptops hold.
            for id in customers {
                #expect(try await server.record(.customer, id) == laptops[0].replica.record(.customer, id)?.state, "\(context)")
            }
        } catch {
            for laptop in laptops { await laptop.close() }
            throw error
        }
        for laptop in laptops { await laptop.close() }
    }

    /// A customer for each laptop, whose team lists the others: every file is everyone's (written, not synced).
    static func sharedCustomers(of laptops: [Laptop], random: inout SplitMix64) throws -> [String] {
        var customers: [String] = []
        for (index, laptop) in laptops.enumerated() {
            let id = RecordID.make(using: &random)
            customers.append(id)
            let team = laptops.enumerated().filter { $0.offset != index }.map(\.element.name).joined(separator: ", ")
            try laptop.replica.write([RecordEdit(.customer, id, [("name", .text("\(laptop.name)'s customer")), ("level", .text("standard")),
                                                                  ("branch", .text("Hangzhou")), ("manager", .text(laptop.name)), ("team", .text(team))])])
        }
        return customers
    }
}
