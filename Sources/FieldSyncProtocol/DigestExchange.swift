import FieldSyncModel

/// `POST /v1/digest`: a peer's 256 bucket digests of what it holds (SYNC.md, "Digests").
public struct DigestRequest: Sendable, Equatable {
    public var digest: ScopeDigest
    /// The schema the peer digested (`ScopeDigest.schema`).
    public var schema: String

    public init(digest: ScopeDigest, schema: String = ScopeDigest.schema) {
        self.digest = digest
        self.schema = schema
    }

    /// `{"schema":"<64 hex>","buckets":["<64 hex>", … 256 of them],"records":N}`.
    public func jsonBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ScopeDigest.bucketCount * 67 + 120)
        out.append(contentsOf: #"{"schema":"#.utf8)
        JSONText.appendString(schema, to: &out)
        out.append(contentsOf: #","buckets":["#.utf8)
        for (index, bucket) in digest.buckets.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            JSONText.appendString(ScopeDigest.hex(bucket), to: &out)
        }
        out.append(contentsOf: #"],"records":"#.utf8)
        out.append(contentsOf: String(digest.records).utf8)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Reads a request: its schema and exactly 256 buckets as 64 lowercase hex digits each, a record count of 0 or more.
    public static func decode(_ bytes: some Collection<UInt8>) throws -> DigestRequest {
        try JSONReader.read(bytes, maxStringLength: 64) { parser in
            var buckets: [[UInt8]] = []
            var records: Int64?, schema: String?
            try parser.object("request") { parser, key in
                switch key {
                case "buckets":
                    try parser.array("buckets") { parser in
                        guard buckets.count < ScopeDigest.bucketCount else {
                            throw WireJSON.DecodingError(description: "buckets must hold exactly \(ScopeDigest.bucketCount) digests")
                        }
                        guard let hash = ScopeDigest.hash(hex: try parser.string("buckets")) else {
                            throw WireJSON.DecodingError(description: "a bucket digest must be 64 lowercase hex digits")
                        }
                        buckets.append(hash)
                    }
                case "records": records = try parser.int("records")
                case "schema":
                    let text = try parser.string("schema")
                    guard ScopeDigest.hash(hex: text) != nil else { throw WireJSON.DecodingError(description: "schema must be 64 lowercase hex digits") }
                    schema = text
                default: try parser.skip()
                }
            }
            guard let schema else { throw WireJSON.DecodingError(description: "schema is missing") }
            guard let records, records >= 0, records <= Int64(Int32.max) else {
                throw WireJSON.DecodingError(description: "records must be a whole number from 0 to \(Int32.max)")
            }
            guard let digest = ScopeDigest(buckets: buckets, records: Int(records)) else {
                throw WireJSON.DecodingError(description: "buckets must hold exactly \(ScopeDigest.bucketCount) digests")
            }
            return DigestRequest(digest: digest, schema: schema)
        }
    }
}

/// The server's answer to a `DigestRequest`: which buckets differ from the peer's, and the
/// records the server holds in them, as field changes in the pull's format.
public struct DigestAnswer: Sendable, Equatable {
    /// SHA-256 over the server's bucket digests (its scope digest).
    public var digest: [UInt8]
    /// Records the server holds in the scope.
    public var records: Int
    /// The change-log position the server's copy covers.
    public var cursor: Int64
    /// Buckets whose digests differ, in order.
    public var differing: [Int]
    /// False when the differing buckets hold more than one answer carries
    /// (`DigestAnswer.maxRecords`): `changes` is then empty and the peer compares with a snapshot.
    public var complete: Bool
    /// Every stamped field of every record the server holds in the differing buckets.
    public var changes: [FieldChange]
    /// Kinds of records in `changes` this version does not know (a newer server's), passed over.
    public var unknownKinds: [String] = []
    /// The schema the server digested (`ScopeDigest.schema`); nil from a server that did not say.
    /// When it is not the peer's, nothing was compared: `complete` is false, every bucket listed.
    public var schema: String?

    /// Most records of differing buckets one answer carries.
    public static let maxRecords = 5_000
    /// Most bytes of values (text) of those records one answer carries.
    public static let maxValueBytes = 16 << 20

    public init(digest: [UInt8], records: Int, cursor: Int64, differing: [Int], complete: Bool, changes: [FieldChange]) {
        (self.digest, self.records, self.cursor, self.differing, self.complete, self.changes) = (digest, records, cursor, differing, complete, changes)
    }

    public var isIdentical: Bool { differing.isEmpty }

    public func jsonBytes() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + changes.count * 64)
        out.append(contentsOf: #"{"digest":"#.utf8)
        JSONText.appendString(ScopeDigest.hex(digest), to: &out)
        out.append(contentsOf: #","records":"#.utf8)
        out.append(contentsOf: String(records).utf8)
        out.append(contentsOf: #","cursor":"#.utf8)
        out.append(contentsOf: String(cursor).utf8)
        out.append(contentsOf: #","differing":["#.utf8)
        out.append(contentsOf: differing.map(String.init).joined(separator: ",").utf8)
        out.append(contentsOf: #"],"complete":"#.utf8)
        out.append(contentsOf: (complete ? "true" : "false").utf8)
        out.append(contentsOf: #","changes":"#.utf8)
        RecordChanges.appendJSON(changes, to: &out)
        if let schema {
            out.append(contentsOf: #","schema":"#.utf8)
            JSONText.appendString(schema, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    public static func decode(_ bytes: some Collection<UInt8>) throws -> DigestAnswer {
        try JSONReader.read(bytes) { parser in
            var digest: [UInt8]?, records: Int64?, cursor: Int64?, complete: Bool?, changes: [FieldChange]?
            var differing: [Int] = []
            var schema: String?
            try parser.object("answer") { parser, key in
                switch key {
                case "digest":
                    guard let hash = ScopeDigest.hash(hex: try parser.string("digest")) else {
                        throw WireJSON.DecodingError(description: "digest must be 64 lowercase hex digits")
                    }
                    digest = hash
                case "records": records = try parser.int("records")
                case "cursor": cursor = try parser.int("cursor")
                case "differing":
                    try parser.array("differing") { parser in
                        let bucket = try parser.int("differing")
                        guard bucket >= 0, bucket < Int64(ScopeDigest.bucketCount), differing.count < ScopeDigest.bucketCount else {
                            throw WireJSON.DecodingError(description: "differing must list buckets from 0 to \(ScopeDigest.bucketCount - 1)")
                        }
                        differing.append(Int(bucket))
                    }
                case "complete": complete = try parser.bool("complete")
                case "changes": changes = try parser.records()
                case "schema": schema = try parser.string("schema")
                default: try parser.skip()
                }
            }
            guard let records, records >= 0, records <= Int64(Int32.max) else {
                throw WireJSON.DecodingError(description: "records must be a whole number from 0 to \(Int32.max)")
            }
            var answer = DigestAnswer(digest: try WireJSON.required(digest, "digest"), records: Int(records),
                                      cursor: try WireJSON.required(cursor, "cursor"), differing: differing,
                                      complete: try WireJSON.required(complete, "complete"), changes: try WireJSON.required(changes, "changes"))
            answer.unknownKinds = parser.unknownKinds
            answer.schema = schema
            return answer
        }
    }
}
