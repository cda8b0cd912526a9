import FieldSyncModel
import FieldSyncProtocol
import FieldSyncRelay
@testable import FieldSyncSQLiteServer
@testable import FieldSyncServer
@testable import FieldSyncServerCore
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import GRDB
import Testing

/// The provincial tier as a property: random topologies (a province, 2–3
/// branch servers, 2–4 laptops under each, a province laptop), random work and
/// moves, random sync orders, over the real stores and the real sync rules
/// (in process, without HTTP). After everyone syncs until quiet: the province
/// holds the union, each laptop exactly its scope, equal where they overlap,
/// and every typed value is the value or in a conflict record (or refused and
/// still in its writer's outbox).
@Suite struct TierPropertyTests {
    final class Device {
        let name: String
        let replica: Replica
        let context: DeviceContext
        let server: ServerStore
        var typed: [(customer: String, value: String, step: Int)] = []

        init(name: String, replica: Replica, context: DeviceContext, server: ServerStore) {
            self.name = name
            self.replica = replica
            self.context = context
            self.server = server
        }

        /// One sync as the client does it, through the server's own entry point.
        func sync() throws {
            for _ in 0..<50 {
                let bodies = try replica.outboxBodies(after: 0, maxMutations: 1_000, maxBytes: 4 << 20)
                let mutations = try bodies.map { try JSONDecoder().decode(Mutation.self, from: Data($0.body)) }
                let response = try server.sync(SyncRequest(cursor: replica.syncCursor(), mutations: mutations, clientTime: server.now,
                                                           pending: mutations.count), from: context).response
                try replica.finishExchange(pulled: response.changes, cursor: response.cursor,
                                           acknowledged: response.accepted.filter { $0.origin == context.node }.map(\.counter),
                                           rejected: response.rejected.map { RejectedMutation(counter: $0.counter, reason: $0.reason) },
                                           left: response.left,
                                           returned: response.returned.filter { $0.mutation.origin == context.node }.map { ($0.mutation, $0.reason) },
                                           syncedAt: "")
                if !response.more { return }
            }
        }
    }

    /// A branch server's upstream exchange, as `UpstreamSync.syncOnce` does it.
    /// `maxMutations`: the relay's page size (small pages end pages next to mutations of several records).
    static func relay(_ branch: ServerStore, to province: ServerStore, as device: DeviceContext, key: String, maxMutations: Int = 1_000) throws {
        for _ in 0..<200 {
            let state = try branch.upstreamState(key)
            let page = try branch.upstreamPage(after: state.sent, maxMutations: maxMutations)
            let response = try province.sync(SyncRequest(cursor: state.cursor, mutations: page.mutations, clientTime: province.now),
                                             from: device).response
            try branch.applyFromUpstream(response, sentThrough: page.through, key: key, relayed: page.mutations)
            if !response.more, page.mutations.isEmpty { return }
        }
    }

    /// A server store of its own in `folder`, initialised as `fieldsync-server init` does.
    static func server(_ name: String, in folder: TemporaryFolder) throws -> ServerStore {
        let data = ServerFolder(path: folder.path(name))
        _ = try data.initialize(hosts: [], branch: nil, certificate: nil)
        return try data.openStore()
    }

    static func enrol(_ name: String, role: Role, branch: String?, at server: ServerStore, folder: TemporaryFolder,
                      node: NodeID? = nil, rng: inout SplitMix64) throws -> (Replica?, DeviceContext) {
        if let branch, try !server.branches().contains(branch) { try server.addBranch(branch) }
        let code = try server.addUser(UserInfo(name: name, role: role, branch: branch)).code
        let replica: Replica? = node == nil ? try Replica.open(path: folder.path("\(name).sqlite")) : nil
        let id = node ?? NodeID.random(using: &rng)
        try replica?.initialize(ReplicaIdentity(node: id, branch: branch, user: name, createdAt: ""))
        let enrolled = try server.enroll(EnrollRequest(code: code, node: id, deviceName: name))
        return (replica, try server.authenticate(token: enrolled.token))
    }

    @Test func randomTopologiesConverge() throws {
        let cases = Int(ProcessInfo.processInfo.environment["FIELDSYNC_TIER_CASES"] ?? "") ?? 100
        for seed in 0..<UInt64(cases) { try run(seed: 0x71E2 &+ seed) }
    }

    func run(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let folder = try TemporaryFolder()
        func server(_ name: String) throws -> ServerStore { try Self.server(name, in: folder) }
        let province = try server("province")
        let branchNames = Array(["Hangzhou", "Ningbo", "Wenzhou"].prefix(Int.random(in: 2...3, using: &rng)))
        var branches: [(name: String, store: ServerStore, device: DeviceContext, key: String)] = []
        var devices: [Device] = []
        var managers: [String: [String]] = [:]
        for name in branchNames {
            let store = try server(name)
            let (_, device) = try Self.enrol("\(name) server", role: .branch, branch: name, at: province, folder: folder,
                                             node: try store.replica.identity()!.node, rng: &rng)
            let key = "sim|\(name)"
            try Self.relay(store, to: province, as: device, key: key)
            branches.append((name, store, device, key))
            for index in 0..<Int.random(in: 2...4, using: &rng) {
                let user = "\(name)-\(index)"
                let role: Role = index == 0 ? .supervisor : .manager
                let (replica, context) = try Self.enrol(user, role: role, branch: name, at: store, folder: folder, rng: &rng)
                devices.append(Device(name: user, replica: replica!, context: context, server: store))
                if role == .manager { managers[name, default: []].append(user) }
            }
        }
        let (patReplica, patContext) = try Self.enrol("Pat", role: .province, branch: nil, at: province, folder: folder, rng: &rng)
        let pat = Device(name: "Pat", replica: patReplica!, context: patContext, server: province)
        devices.append(pat)
        var created: [String] = []
        var createdVisits: [String] = []
        let relayPage = [1, 2, 1_000].randomElement(using: &rng)!

        func relay(_ index: Int) throws {
            try Self.relay(branches[index].store, to: province, as: branches[index].device, key: branches[index].key, maxMutations: relayPage)
        }
        for step in 0..<60 {
            let device = devices.randomElement(using: &rng)!
            switch Int.random(in: 0..<10, using: &rng) {
            case 0...1 where device.context.user.role == .manager:
                let id = RecordID.make(using: &rng)
                let branch = device.context.user.branch!
                let mate = managers[branch]!.filter { $0 != device.name }.randomElement(using: &rng)
                var edits = [RecordEdit(.customer, id, [("name", .text("c\(step)")), ("level", .text("standard")),
                                                        ("branch", .text(branch)), ("manager", .text(device.name)),
                                                        ("team", mate.map(FieldValue.text) ?? .null)])]
                // Sometimes with a first visit in the same mutation: one mutation, several log rows.
                if Bool.random(using: &rng) {
                    let visit = RecordID.make(using: &rng)
                    edits.append(RecordEdit(.visit, visit, [("customer", .text(id)), ("at", .text("2026-11-22T10:00:00+08:00")),
                                                            ("kind", .text("routine")), ("summary", .text("first call \(step)"))]))
                    createdVisits.append(visit)
                }
                _ = try device.replica.write(edits)
                created.append(id)
            case 2, 3, 4:
                guard let customer = try device.replica.records(.customer).randomElement(using: &rng) else { continue }
                let value = "\(device.name) note \(step)"
                if (try? device.replica.write([RecordEdit(.customer, customer.id, [("notes", .text(value))])])) != nil {
                    device.typed.append((customer.id, value, step))
                }
            case 5 where device === pat:
                // The province moves a file to another branch, to one of its managers.
                guard let customer = try pat.replica.records(.customer).randomElement(using: &rng),
                      let target = branchNames.randomElement(using: &rng), let manager = managers[target]?.randomElement(using: &rng) else { continue }
                _ = try pat.replica.write([RecordEdit(.customer, customer.id, [("branch", .text(target)), ("manager", .text(manager))])])
            case 6, 7:
                try device.sync()
            default:
                try relay(Int.random(in: 0..<branches.count, using: &rng))
            }
        }
        // Everyone syncs until quiet.
        for _ in 0..<4 {
            for device in devices.shuffled(using: &rng) { try device.sync() }
            for index in branches.indices.shuffled(using: &rng) { try relay(index) }
        }
        for device in devices { try device.sync() }

        let context = "seed \(seed)"
        // The province holds the union.
        let held = Set(try province.replica.records(.customer).map(\.id))
        #expect(Set(created).isSubset(of: held), "\(context): the province holds every customer")
        #expect(Set(createdVisits).isSubset(of: Set(try province.replica.records(.visit).map(\.id))), "\(context): the province holds every visit")
        for device in devices {
            // Exactly its scope, equal to the province where it overlaps.
            let policy = AccessPolicy(device.context.user)
            let expected = Set(try province.replica.records(.customer).filter { record in
                policy.allows(CustomerScope(branch: record["branch"].text, manager: record["manager"].text, team: Team.members(record["team"])))
            }.map(\.id))
            let mine = Set(try device.replica.records(.customer).map(\.id))
            #expect(mine == expected, "\(context): \(device.name) holds exactly its scope")
            for id in mine {
                #expect(try device.replica.record(.customer, id) == province.replica.record(.customer, id), "\(context): \(device.name) \(id.prefix(8))")
            }
            // Nothing typed is lost: the value, a conflict record's copy, or refused and kept in the outbox.
            let outbox = Set(try device.replica.outbox().flatMap(\.changes).compactMap(\.value.text))
            let conflicts = try province.replica.records(.conflict)
            for (customer, value, step) in device.typed {
                let kept = try province.replica.record(.customer, customer)?["notes"] == .text(value)
                let inConflict = conflicts.contains { $0["lost_value"] == .text(value) || $0["kept_value"] == .text(value) }
                // Replaced by a note typed later on the same file (a sequential overwrite, not a loss).
                let replaced = devices.contains { $0.typed.contains { $0.customer == customer && $0.step > step } }
                // (Work a branch server accepted and the province refused came back to the
                // typist's outbox, refused, with the reason.)
                #expect(kept || inConflict || outbox.contains(value) || replaced,
                        "\(context): \(device.name)'s '\(value)' is kept")
            }
        }
        // No change came back down to the server its writer is enrolled at.
        for branch in branches {
            let echoes = try branch.store.writer.read { db in
                try Int.fetchOne(db, sql: """
                    SELECT COUNT(*) FROM change_log WHERE from_upstream = 1 AND origin IN (SELECT node FROM devices)
                    """) ?? -1
            }
            #expect(echoes == 0, "\(context): no echo at \(branch.name)")
        }
    }
}
