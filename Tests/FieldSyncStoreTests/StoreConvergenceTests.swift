import FieldSyncModel
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

@Suite struct StoreConvergenceTests {
    /// The SQLite store follows the memory reference exactly, schedule by schedule.
    @Test func storeMatchesMemoryReference() {
        for index in 0..<150 {
            let seed: UInt64 = 0x5_70E0 &+ UInt64(index)
            var reference = Simulation(seed: seed, replicaCount: 4) { MemoryReplica(node: $0) }
            var store = Simulation(seed: seed, replicaCount: 4) { SQLiteSimulatedReplica(node: $0) }
            reference.run(steps: 40)
            store.run(steps: 40)
            let midway = zip(reference.replicas, store.replicas).allSatisfy { $0.snapshot() == $1.snapshot() }
            #expect(midway, "seed \(seed): store and memory replicas differ before settling")
            reference.settle()
            store.settle()
            let failures = store.failures()
            let same = zip(reference.replicas, store.replicas).allSatisfy { $0.snapshot() == $1.snapshot() }
            #expect(failures.isEmpty && same, "seed \(seed): \(failures.prefix(3))")
            if !failures.isEmpty || !same || !midway { break }
        }
    }

    /// SQLite files of replicas that exchanged everything dump to identical bytes.
    @Test func fileReplicasAreByteForByteIdentical() throws {
        let folder = try TemporaryFolder()
        for index in 0..<12 {
            let seed: UInt64 = 0xB17E &+ UInt64(index)
            var counter = 0
            var simulation = Simulation(seed: seed, replicaCount: 4) { node in
                counter += 1
                return SQLiteSimulatedReplica(node: node, path: folder.path("s\(index)-r\(counter).sqlite"))
            }
            simulation.run(steps: 50)
            simulation.settle()
            let dumps = simulation.replicas.map { $0.dump() }
            #expect(!dumps[0].isEmpty)
            #expect(Set(dumps).count == 1, "seed \(seed): SQLite dumps differ")
            for replica in simulation.replicas {
                let problems = try replica.replica.verify()
                #expect(problems == [], "seed \(seed): \(problems.prefix(3))")
            }
        }
    }
}
