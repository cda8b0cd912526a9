import FieldSyncModel
import FieldSyncProtocol
import FieldSyncStore
import Foundation

extension Replica {
    /// The digest of the records a comparison with the server takes (`ScopeDigest`).
    public func scopeDigest() throws -> ScopeDigest {
        var builder = ScopeDigest.Builder()
        try scanRecords { builder.add($0, $1) }
        return builder.finish()
    }
}

extension DigestAnswer {
    /// The server's states of the records it sent, as whole records.
    public func serverStates() -> [RecordKind: [String: RecordState]] {
        var states: [RecordKind: [String: RecordState]] = [:]
        // Ids as a snapshot holds them (the comparison's other side reads no others).
        for change in changes where RecordID.isValid(change.record) || change.table.isProvinceWide {
            let schema = change.table.schema
            guard let index = schema.index(of: change.field) else { continue }
            var state = states[change.table]?[change.record] ?? RecordState(fieldCount: schema.fields.count)
            state.values[index] = change.value
            state.stamps[index] = FieldStamp(hlc: change.hlc, node: change.node, base: change.base)
            states[change.table, default: [:]][change.record] = state
        }
        return states
    }
}

extension SyncClient {
    /// `POST /v1/digest`: the server's answer to this peer's digest.
    public func compareDigest(_ digest: ScopeDigest, token: String) async throws -> DigestAnswer {
        let bytes = try await send("/v1/digest", body: DigestRequest(digest: digest).jsonBytes(), token: token)
        do {
            return try DigestAnswer.decode(bytes)
        } catch {
            throw SyncError("\(baseURL) sent a digest answer this client does not understand: \(error)")
        }
    }

    /// Compares `replica` with the server by digests, or with a snapshot of its scope downloaded to
    /// `path` when the server cannot answer so (an older server, too much differing).
    public func drift(of replica: Replica, token: String, downloadingIfNeededTo path: String) async throws -> ServerDrift {
        if let compared = try await driftByDigest(of: replica, token: token) { return compared }
        return try await drift(of: replica, token: token, downloadingTo: path)
    }

    /// Compares `replica` with the server by digests: only the records of buckets that differ
    /// travel. Nil when the server cannot answer so (an older server without `/v1/digest`) or the
    /// differing buckets hold more than one answer carries: compare with a snapshot instead.
    public func driftByDigest(of replica: Replica, token: String) async throws -> ServerDrift? {
        let digest = try replica.scopeDigest()
        let answer: DigestAnswer
        do {
            answer = try await compareDigest(digest, token: token)
        } catch let error as SyncError where error.code == ErrorCode.notFound || error.status == 404 {
            return nil
        }
        // Another schema (an older or newer peer), too much differing, or more than one answer should carry: the snapshot.
        let sent = Set(answer.changes.lazy.map { RecordKey(table: $0.table, record: $0.record) })
        guard answer.schema == ScopeDigest.schema, answer.complete, answer.unknownKinds.isEmpty, sent.count <= DigestAnswer.maxRecords else { return nil }
        if answer.isIdentical {
            return ServerDrift(records: [], compared: max(digest.records, answer.records), waiting: 0,
                               digest: DigestSummary(differing: 0, recordsRead: 0))
        }
        let differing = Set(answer.differing)
        var drift = try replica.drift(against: answer.serverStates(), only: { differing.contains(ScopeDigest.bucket(of: $0)) })
        drift.digest = DigestSummary(differing: differing.count, recordsRead: sent.count)
        // The records of the buckets that agree were compared by their digests.
        drift.compared = max(digest.records, answer.records)
        return drift
    }
}
