import FieldSyncModel
import FieldSyncTestSupport
import Testing

/// Random schedules of edits and deliveries across several replicas must end
/// with identical replicas, and every concurrently overwritten value must be
/// in a conflict record (or have been knowingly overwritten).
@Suite struct ConvergenceTests {
    static let firstSeed: UInt64 = 0xF1E1_D5

    @Test func everyKindFindsItsOwnSchema() {
        for kind in RecordKind.allCases {
            #expect(kind.schema.kind == kind)
        }
    }

    @Test func randomSchedulesConverge() {
        for index in 0..<2_000 {
            let seed = Self.firstSeed &+ UInt64(index)
            let failures = Self.run(seed: seed, replicaCount: 4 + index % 3)
            #expect(failures.isEmpty, "seed \(seed) (replay: FIELDSYNC_SEED=\(seed) swift test --filter replaysSeed): \(failures.prefix(3).joined(separator: "; "))")
            if !failures.isEmpty { break }
        }
    }

    @Test func replaysSeedFromEnvironment() {
        guard let seed = Environment.value("FIELDSYNC_SEED").flatMap(UInt64.init) else { return }
        #expect(Self.run(seed: seed, replicaCount: 4).isEmpty, "seed \(seed)")
    }

    static func run(seed: UInt64, replicaCount: Int) -> [String] {
        var simulation = Simulation(seed: seed, replicaCount: replicaCount) { MemoryReplica(node: $0) }
        simulation.run(steps: 60)
        simulation.settle()
        return simulation.failures()
    }
}
