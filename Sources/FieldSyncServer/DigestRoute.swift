import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore
import Hummingbird

extension SyncHTTPServer {
    /// Largest digest request: 256 digests of 64 hex digits and a count.
    static let maxDigestRequestBytes = 64 << 10

    /// `POST /v1/digest`: compares a peer's bucket digests with the server's copy of the peer's
    /// scope and answers the buckets that differ with the server's records in them
    /// (Protocol/SYNC.md, "Digests"). The scope is read exactly as a snapshot reads it, by the
    /// same code on either engine (a snapshot file made and removed here), so what a digest
    /// covers is what a snapshot holds; it takes a place among the snapshots being made.
    func digestRoutes() -> RouteCollection<DeviceRequestContext> {
        let devices = RouteCollection(context: DeviceRequestContext.self)
        devices.post("/v1/digest") { request, context in
            let device = context.device
            var request = request
            var body = try await request.collectBody(upTo: Self.maxDigestRequestBytes)
            if request.headers[.contentEncoding]?.lowercased() == "gzip" {
                do {
                    body = try BodyCompression.gunzip(body, maxSize: Self.maxDigestRequestBytes)
                } catch {
                    throw ServerError.tooLarge("the digest request is over \(Self.maxDigestRequestBytes >> 10) KiB once decompressed, or is not valid gzip")
                }
            }
            let asked: DigestRequest
            do {
                asked = try DigestRequest.decode(body.readableBytesView)
            } catch {
                throw ServerError.badRequest("the request body is not a valid DigestRequest: \(error)")
            }
            let ticket = try enterSnapshotGate(device)
            defer { snapshots.leave(ticket) }
            let snapshot = try await snapshotStorage.makeSnapshot(for: device)
            defer { Snapshot.discard(snapshot.path) }
            let answer = try await offload { try ScopeDigestAnswer.answer(asked, scopeAt: snapshot.path, cursor: snapshot.cursor) }
            // A device's latest comparison is what the freshness of its branch rests on (`BranchFreshness.identicalAt`);
            // one of another schema compared nothing.
            if asked.schema == ScopeDigest.schema {
                try await kpi.noteDigestCheck(DigestCheck(device: device.device, checkedAt: clock(), matched: answer.isIdentical,
                                                          differing: answer.differing.count))
            }
            // Compressed as a sync answer is: the records of differing buckets may reach megabytes.
            return try Self.json(bytes: answer.jsonBytes(), gzipped: request.headers[.acceptEncoding]?.contains("gzip") ?? false)
        }
        return devices
    }
}

/// The server's side of a digest comparison, over a snapshot file of the asking device's scope.
enum ScopeDigestAnswer {
    /// Peers of different schemas (`ScopeDigest.schema`) compare nothing: every bucket listed, `complete` false.
    /// The records of differing buckets are answered up to `DigestAnswer.maxRecords` records and
    /// `maxValueBytes` of text; beyond, none (`complete` false: the peer compares with a snapshot).
    static func answer(_ asked: DigestRequest, scopeAt path: String, cursor: Int64) throws -> DigestAnswer {
        var builder = ScopeDigest.Builder()
        _ = try Replica.scanRecords(inFileAt: path) { builder.add($0, $1) }
        let ours = builder.finish()
        guard asked.schema == ScopeDigest.schema else {
            var answer = DigestAnswer(digest: ours.top, records: ours.records, cursor: cursor, differing: Array(0..<ScopeDigest.bucketCount),
                                      complete: false, changes: [])
            answer.schema = ScopeDigest.schema
            return answer
        }
        let differing = ours.differing(from: asked.digest)
        var answer = DigestAnswer(digest: ours.top, records: ours.records, cursor: cursor, differing: differing, complete: true, changes: [])
        answer.schema = ScopeDigest.schema
        guard !differing.isEmpty else { return answer }
        let wanted = Set(differing)
        var records = 0, bytes = 0
        var changes: [FieldChange] = []
        _ = try Replica.scanRecords(inFileAt: path) { key, state in
            guard answer.complete, wanted.contains(ScopeDigest.bucket(of: key)) else { return }
            records += 1
            bytes += state.values.reduce(0) { $0 + ($1.text?.utf8.count ?? 8) }
            guard records <= DigestAnswer.maxRecords, bytes <= DigestAnswer.maxValueBytes else {
                answer.complete = false
                changes = []
                return
            }
            changes += state.changes(table: key.table, record: key.record)
        }
        answer.changes = changes
        return answer
    }
}
