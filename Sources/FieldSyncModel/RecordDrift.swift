/// How one field of a record differs between a replica and its server's copy of it.
public enum FieldDrift: String, Hashable, Sendable {
    /// The replica's state is kept over the server's by the field's merge rule (or the server has
    /// none): the server never got it, or lost it.
    case serverLacks
    /// The server's state is kept over the replica's (or the replica has none).
    case replicaLacks
    /// Both hold the same write (stamp) with different values: a copy was altered outside
    /// FieldSync. The merge cannot tell them apart, since it takes a stamp for its value.
    case sameWriteDiffers
}

/// One record whose states on a replica and on its server differ, with both states
/// (nil where a side lacks the record) and the fields that differ, in schema order.
public struct RecordDrift: Hashable, Sendable {
    public var key: RecordKey
    public var here: RecordState?
    public var server: RecordState?
    public var fields: [FieldDifference]

    public struct FieldDifference: Hashable, Sendable {
        public var index: Int
        public var drift: FieldDrift

        public init(index: Int, drift: FieldDrift) {
            self.index = index
            self.drift = drift
        }
    }

    public init(key: RecordKey, here: RecordState?, server: RecordState?, fields: [FieldDifference]) {
        self.key = key
        self.here = here
        self.server = server
        self.fields = fields
    }

    /// Compares a record as a replica holds it with the server's copy, field by field, by the
    /// merge rules: nil when they agree. A field stamped on neither side agrees.
    public static func compare(_ key: RecordKey, here: RecordState?, server: RecordState?) -> RecordDrift? {
        let schema = key.table.schema
        var fields: [FieldDifference] = []
        for (index, spec) in schema.fields.enumerated() {
            let mine = here.flatMap { index < $0.stamps.count ? $0[state: index] : nil }
            let theirs = server.flatMap { index < $0.stamps.count ? $0[state: index] : nil }
            switch (mine, theirs) {
            case (nil, nil):
                continue
            case (.some, nil):
                fields.append(FieldDifference(index: index, drift: .serverLacks))
            case (nil, .some):
                fields.append(FieldDifference(index: index, drift: .replicaLacks))
            case (.some(let mine), .some(let theirs)):
                if mine.stamp.isSameWrite(as: theirs.stamp) {
                    if mine.value != theirs.value { fields.append(FieldDifference(index: index, drift: .sameWriteDiffers)) }
                } else {
                    let drift: FieldDrift = FieldMerge.keeps(mine, over: theirs, rule: spec.rule) ? .serverLacks : .replicaLacks
                    fields.append(FieldDifference(index: index, drift: drift))
                }
            }
        }
        return fields.isEmpty ? nil : RecordDrift(key: key, here: here, server: server, fields: fields)
    }

    /// The fields the server lacks: the replica's states it is to be offered.
    public var serverLacks: [FieldChange] { changes(from: here, where: .serverLacks) }

    /// The server's states this replica lacks, to merge as a pull would.
    public var replicaLacks: [FieldChange] { changes(from: server, where: .replicaLacks) }

    /// The server's states of the fields whose same write holds different values here.
    public var serverCopyOfAlteredWrites: [FieldChange] { changes(from: server, where: .sameWriteDiffers) }

    private func changes(from state: RecordState?, where drift: FieldDrift) -> [FieldChange] {
        guard let state else { return [] }
        let schema = key.table.schema
        return fields.compactMap { difference -> FieldChange? in
            guard difference.drift == drift, let stamp = state.stamps[difference.index] else { return nil }
            return FieldChange(table: key.table, record: key.record, field: schema.fields[difference.index].name,
                               value: state.values[difference.index], hlc: stamp.hlc, node: stamp.node, base: stamp.base)
        }
    }
}
