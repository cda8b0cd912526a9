import FieldSyncModel

/// One replica as the simulation drives it: the memory reference or a SQLite store.
public protocol SimulatedReplica {
    var node: NodeID { get }
    /// Records a local action without validation (the simulation writes records
    /// whose parents may not have arrived yet).
    mutating func write(_ edits: [(table: RecordKind, record: String, fields: [(String, FieldValue)])], nowMilliseconds: UInt64) -> Mutation?
    /// Applies remote changes; returns the mutations this produced (conflict records).
    mutating func apply(_ changes: [FieldChange], nowMilliseconds: UInt64) -> [Mutation]
    func record(_ table: RecordKind, _ id: String) -> RecordState?
    func snapshot() -> [RecordKind: [String: RecordState]]
}

extension MemoryReplica: SimulatedReplica {
    public mutating func apply(_ changes: [FieldChange], nowMilliseconds now: UInt64) -> [Mutation] {
        let before = outbox.count
        let _: [Overwrite] = apply(changes, nowMilliseconds: now)
        return Array(outbox[before...])
    }

    public func snapshot() -> [RecordKind: [String: RecordState]] { tables }
}

/// Random schedules of edits and deliveries across several replicas: edits on
/// shared records, partial, shuffled and duplicated deliveries, then a full
/// exchange until nothing new is produced.
public struct Simulation<Replica: SimulatedReplica> {
    var rng: SplitMix64
    public var replicas: [Replica]
    /// Wall clocks in ms, deliberately skewed per replica.
    var clocks: [UInt64]
    /// Every mutation anyone produced, in production order (the "network").
    public var network: [Mutation] = []
    var customers: [String] = []
    var faults: [String] = []

    public init(seed: UInt64, replicaCount: Int, makeReplica: (NodeID) -> Replica) {
        rng = SplitMix64(seed: seed)
        replicas = []
        clocks = []
        for _ in 0..<replicaCount {
            replicas.append(makeReplica(NodeID.random(using: &rng)))
            clocks.append(1_800_000_000_000 + UInt64.random(in: 0...5_000, using: &rng))
        }
        // Shared records every replica starts with.
        for _ in 0..<2 {
            let id = RecordID.make(using: &rng)
            customers.append(id)
            perform(0, [(.customer, id, [("name", .text("Customer")), ("level", .text("standard"))])])
        }
        let fault = RecordID.make(using: &rng)
        faults.append(fault)
        perform(0, [(.fault, fault, [
            ("customer", .text(customers[0])), ("symptom", .text("link down")),
            ("reported_at", .text("2026-11-23T09:00:00+08:00")), ("status", .text("1:reported")),
        ])])
        for replica in replicas.indices { deliver(everything: replica) }
    }

    mutating func perform(_ replica: Int, _ edits: [(table: RecordKind, record: String, fields: [(String, FieldValue)])]) {
        clocks[replica] += UInt64.random(in: 0...3, using: &rng)
        if let mutation = replicas[replica].write(edits, nowMilliseconds: clocks[replica]) {
            network.append(mutation)
        }
    }

    public mutating func run(steps: Int) {
        for _ in 0..<steps {
            let replica = Int.random(in: 0..<replicas.count, using: &rng)
            if Int.random(in: 0..<3, using: &rng) == 0 {
                deliverPartial(to: replica)
            } else {
                randomEdit(on: replica)
            }
        }
    }

    mutating func randomEdit(on replica: Int) {
        let customer = customers.randomElement(using: &rng)!
        let fault = faults.randomElement(using: &rng)!
        let words = ["Acme", "Bolt", "Cord", "Dyne"]
        switch Int.random(in: 0..<9, using: &rng) {
        case 0, 1:
            perform(replica, [(.customer, customer, [("name", .text(words.randomElement(using: &rng)!))])])
        case 2:
            perform(replica, [(.customer, customer, [
                ("notes", .text(words.randomElement(using: &rng)!)),
                ("level", .text(["vip", "standard"].randomElement(using: &rng)!)),
            ])])
        case 3:
            let minute = Int.random(in: 10...59, using: &rng)
            perform(replica, [(.fault, fault, [("first_feedback_at", .text("2026-11-23T09:\(minute):00+08:00"))])])
        case 4:
            let current = replicas[replica].record(.fault, fault)?.value("status", in: RecordKind.fault.schema).text
            let status = current.flatMap { WorkflowStatus($0, kind: .fault) } ?? .opened
            let next = status.rank >= WorkflowStatus.done && Bool.random(using: &rng)
                ? WorkflowStatus(round: status.round + 1, rank: 0)
                : WorkflowStatus(round: status.round, rank: min(status.rank + 1, WorkflowStatus.closed))
            perform(replica, [(.fault, fault, [("status", .text(next.text(for: .fault)))])])
        case 5:
            perform(replica, [(.faultNote, RecordID.make(using: &rng), [
                ("fault", .text(fault)), ("at", .text("2026-11-23T10:00:00+08:00")), ("text", .text("called"))])])
        case 6:
            perform(replica, [(.customer, customer, [("archived", .int(Int64.random(in: 0...1, using: &rng)))])])
        case 7:
            let id = RecordID.make(using: &rng)
            customers.append(id)
            perform(replica, [(.customer, id, [("name", .text("New")), ("level", .text("vip"))])])
        default:
            perform(replica, [(.contact, RecordID.make(using: &rng), [
                ("customer", .text(customer)), ("name", .text(words.randomElement(using: &rng)!))])])
        }
    }

    /// Delivers a random slice of the network, shuffled, with duplicates and
    /// with mutations cut in the middle.
    mutating func deliverPartial(to replica: Int) {
        guard !network.isEmpty else { return }
        var changes: [FieldChange] = []
        for _ in 0..<Int.random(in: 1...6, using: &rng) {
            let mutation = network.randomElement(using: &rng)!
            let cut = Int.random(in: 1...mutation.changes.count, using: &rng)
            changes += mutation.changes.prefix(cut)
        }
        changes.shuffle(using: &rng)
        apply(changes, to: replica)
    }

    mutating func deliver(everything replica: Int) {
        apply(network.flatMap(\.changes).shuffled(using: &rng), to: replica)
    }

    mutating func apply(_ changes: [FieldChange], to replica: Int) {
        clocks[replica] += 1
        network += replicas[replica].apply(changes, nowMilliseconds: clocks[replica])
    }

    /// Full exchange until no replica produces anything new (conflict records
    /// made while applying are mutations of their own).
    public mutating func settle() {
        var rounds = 0
        while true {
            let produced = network.count
            for replica in replicas.indices { deliver(everything: replica) }
            rounds += 1
            if network.count == produced || rounds > 10 { break }
        }
    }

    public func failures() -> [String] {
        var failures: [String] = []
        let reference = replicas[0].snapshot()
        for replica in replicas.dropFirst() where replica.snapshot() != reference {
            failures.append("replica \(replica.node) differs from \(replicas[0].node)")
        }
        failures += lostValues()
        return failures
    }

    /// Every last-writer-wins value that is not the final one was either
    /// overwritten by a writer who had seen it, or is kept in a conflict record.
    func lostValues() -> [String] {
        let final = replicas[0]
        let conflicts = final.snapshot()[.conflict] ?? [:]
        let conflictSchema = RecordKind.conflict.schema
        let allChanges = network.flatMap(\.changes).filter { $0.table != .conflict }
        let byField = Dictionary(grouping: allChanges) { "\($0.table.rawValue)|\($0.record)|\($0.field)" }
        var failures: [String] = []
        for (_, changes) in byField {
            let sample = changes[0]
            let schema = sample.table.schema
            guard let index = schema.index(of: sample.field), schema.fields[index].rule == .lastWriterWins,
                  let finalState = final.record(sample.table, sample.record)?[state: index]
            else { continue }
            for lost in changes where lost.value != finalState.value {
                let seen = changes.contains { $0.stamp.isNewer(than: lost.stamp) && $0.base >= lost.hlc }
                let kept = conflicts.values.contains { conflict in
                    conflict.value("record", in: conflictSchema) == .text(lost.record)
                        && conflict.value("field", in: conflictSchema) == .text(lost.field)
                        && conflict.value("lost_value", in: conflictSchema) == lost.value
                }
                if !seen && !kept {
                    failures.append("\(lost.table.rawValue).\(lost.field)=\(lost.value) by \(lost.node) lost without a conflict record")
                }
            }
        }
        return failures
    }
}
