/// A concurrent overwrite: `lost` was replaced (or refused) by `kept`, and the
/// writer of the newer one had not seen the older one.
public struct Overwrite: Hashable, Sendable {
    public var table: RecordKind
    public var record: String
    public var field: String
    public var lost: FieldState
    public var kept: FieldState

    public init(table: RecordKind, record: String, field: String, lost: FieldState, kept: FieldState) {
        self.table = table
        self.record = record
        self.field = field
        self.lost = lost
        self.kept = kept
    }
}

/// The merge rules of one field. Pure functions of the values and stamps.
public enum FieldMerge {
    /// Whether `a` is kept over `b`. For every rule this is a strict total
    /// order on (value, stamp), so the surviving value does not depend on the
    /// order in which states meet.
    @inlinable
    public static func keeps(_ a: FieldState, over b: FieldState, rule: MergeRule) -> Bool {
        switch rule {
        case .lastWriterWins:
            return a.stamp.isNewer(than: b.stamp)
        case .earliest:
            let ka = earliestKey(a.value), kb = earliestKey(b.value)
            return ka != kb ? ka < kb : a.stamp.isNewer(than: b.stamp)
        case .forwardStatus:
            let ka = statusKey(a.value), kb = statusKey(b.value)
            return ka != kb ? ka > kb : a.stamp.isNewer(than: b.stamp)
        }
    }

    /// Merges `incoming` into `current`.
    /// - Returns: the surviving state, whether it differs from `current`, and
    ///   the overwrite to record as a conflict, if the two were concurrent.
    @inlinable
    public static func merge(
        current: FieldState?, incoming: FieldState, rule: MergeRule, detectConflicts: Bool
    ) -> (state: FieldState, replaced: Bool, conflict: (lost: FieldState, kept: FieldState)?) {
        guard let current else { return (incoming, true, nil) }
        if current.stamp.isSameWrite(as: incoming.stamp) { return (current, false, nil) }
        let incomingWins = keeps(incoming, over: current, rule: rule)
        let (winner, loser) = incomingWins ? (incoming, current) : (current, incoming)
        // Only last-writer-wins can lose typed text; the domain rules keep the value
        // that matters (the furthest status, the earliest feedback) by design.
        var conflict: (lost: FieldState, kept: FieldState)?
        if detectConflicts, rule == .lastWriterWins, winner.value != loser.value,
           winner.stamp.node != loser.stamp.node, winner.stamp.base < loser.stamp.hlc {
            conflict = (loser, winner)
        }
        return (winner, incomingWins, conflict)
    }

    @usableFromInline
    static func earliestKey(_ value: FieldValue) -> Int64 {
        // An empty value never beats a time: feedback once given cannot be un-given.
        guard case .text(let text) = value, let time = Timestamp(iso: text) else { return .max }
        return time.epochSeconds
    }

    @usableFromInline
    static func statusKey(_ value: FieldValue) -> (Int, Int) {
        guard case .text(let text) = value else { return (0, -1) }
        return WorkflowStatus.orderKey(text)
    }
}

/// The fields of one record with their stamps, in schema order.
public struct RecordState: Hashable, Sendable {
    public var values: [FieldValue]
    public var stamps: [FieldStamp?]

    public init(fieldCount: Int) {
        values = Array(repeating: .null, count: fieldCount)
        stamps = Array(repeating: nil, count: fieldCount)
    }

    public init(values: [FieldValue], stamps: [FieldStamp?]) {
        self.values = values
        self.stamps = stamps
    }

    public subscript(state index: Int) -> FieldState? {
        stamps[index].map { FieldState(value: values[index], stamp: $0) }
    }

    public func value(_ field: String, in schema: RecordSchema) -> FieldValue {
        schema.index(of: field).map { values[$0] } ?? .null
    }

    /// The record as field changes, one per stamped field with its value and stamp:
    /// what a log carries when a record is sent whole (a file logged again, a stored blob).
    public func changes(table: RecordKind, record: String) -> [FieldChange] {
        let schema = table.schema
        return schema.fields.indices.compactMap { index -> FieldChange? in
            guard index < stamps.count, let stamp = stamps[index] else { return nil }
            return FieldChange(table: table, record: record, field: schema.fields[index].name, value: values[index],
                               hlc: stamp.hlc, node: stamp.node, base: stamp.base)
        }
    }

    /// The values by field name, for validation and display.
    public func dictionary(in schema: RecordSchema) -> [String: FieldValue] {
        var result: [String: FieldValue] = [:]
        for (index, spec) in schema.fields.enumerated() where values[index] != .null {
            result[spec.name] = values[index]
        }
        return result
    }
}

public enum RecordMerge {
    /// Applies changes that all concern one record, in order.
    /// - Returns: whether the record changed. Concurrent overwrites are appended to `overwrites`.
    @inlinable
    public static func apply<C: Collection<FieldChange>>(
        _ changes: C, to state: inout RecordState, schema: RecordSchema, overwrites: inout [Overwrite]
    ) -> Bool {
        if let changed = changes.withContiguousStorageIfAvailable({ apply($0, to: &state, schema: schema, overwrites: &overwrites) }) {
            return changed
        }
        return Array(changes).withUnsafeBufferPointer { apply($0, to: &state, schema: schema, overwrites: &overwrites) }
    }

    /// The merge-apply hot path: changes are read in place (iterating a
    /// collection copies each change, three reference counts up and down).
    @inlinable
    static func apply(
        _ changes: UnsafeBufferPointer<FieldChange>, to state: inout RecordState, schema: RecordSchema, overwrites: inout [Overwrite]
    ) -> Bool {
        var changed = false
        let detect = schema.kind != .conflict
        var hint = 0
        for position in changes.indices {
            // A field this version does not know (a newer peer) is skipped, not fatal.
            guard let index = schema.index(of: changes[position].field, hint: hint) else { continue }
            hint = index + 1
            let incoming = changes[position].stamp
            guard let stamp = state.stamps[index] else {
                // Nothing to merge with: the change is the field's state (what `FieldMerge.merge` returns).
                state.values[index] = changes[position].value
                state.stamps[index] = incoming
                changed = true
                continue
            }
            let outcome = FieldMerge.merge(
                current: FieldState(value: state.values[index], stamp: stamp),
                incoming: FieldState(value: changes[position].value, stamp: incoming),
                rule: schema.fields[index].rule, detectConflicts: detect)
            if outcome.replaced {
                state.values[index] = outcome.state.value
                state.stamps[index] = outcome.state.stamp
                changed = true
            }
            if let conflict = outcome.conflict {
                overwrites.append(Overwrite(
                    table: changes[position].table, record: changes[position].record, field: changes[position].field,
                    lost: conflict.lost, kept: conflict.kept))
            }
        }
        return changed
    }
}
