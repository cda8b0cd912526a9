import Crypto
import FieldSyncModel
import Foundation

/// A device's signature over a page of its own mutations, so that a server
/// further up the tier can tell the device's work from a forgery by the
/// server that relays it (a stolen branch token).
///
/// Signing each mutation would cost more than the tier's whole sync (Ed25519
/// verifies at tens of microseconds), so a device signs a page: its node, its
/// public key, and for each mutation of the page its counter and a digest of
/// its content (`MutationDigest`). A relaying server keeps the pages it
/// received and passes on, with each mutation it relays, the page that covers
/// it; the province checks one signature per page and one SHA-256 per mutation.
public struct SignedPage: Sendable, Equatable {
    /// Entries are 8 bytes of counter (big-endian) and 16 of digest.
    public static let entrySize = 24
    /// The most mutations one page covers (a push holds at most 1,000).
    public static let maxEntries = 1_000

    public var node: NodeID
    /// The Ed25519 public key (32 bytes).
    public var key: [UInt8]
    public var entries: [UInt8]
    /// The Ed25519 signature (64 bytes) over `signedBytes`.
    public var signature: [UInt8]

    public init(node: NodeID, key: [UInt8], entries: [UInt8], signature: [UInt8]) {
        self.node = node
        self.key = key
        self.entries = entries
        self.signature = signature
    }

    /// Signs `mutations` (all of `node`) with `key`.
    public static func sign(_ mutations: [Mutation], node: NodeID, key: Curve25519.Signing.PrivateKey) throws -> SignedPage {
        var entries: [UInt8] = []
        entries.reserveCapacity(mutations.count * entrySize)
        for mutation in mutations where mutation.origin == node {
            withUnsafeBytes(of: mutation.counter.bigEndian) { entries.append(contentsOf: $0) }
            entries.append(contentsOf: MutationDigest.of(mutation))
        }
        var page = SignedPage(node: node, key: Array(key.publicKey.rawRepresentation), entries: entries, signature: [])
        page.signature = Array(try key.signature(for: page.signedBytes))
        return page
    }

    /// What the signature covers: a domain tag, the node, the key and the entries.
    var signedBytes: [UInt8] {
        var bytes = Array("fieldsync-page-v1".utf8)
        withUnsafeBytes(of: node.rawValue.bigEndian) { bytes.append(contentsOf: $0) }
        bytes += key
        bytes += entries
        return bytes
    }

    /// Well formed and signed by its own key.
    public var isValid: Bool {
        guard key.count == 32, signature.count == 64, entries.count % Self.entrySize == 0,
              entries.count / Self.entrySize <= Self.maxEntries,
              let publicKey = try? Curve25519.Signing.PublicKey(rawRepresentation: key) else { return false }
        return publicKey.isValidSignature(signature, for: signedBytes)
    }

    /// The digest this page gives `counter`, if it covers it.
    public func digest(of counter: UInt64) -> ArraySlice<UInt8>? {
        var offset = 0
        while offset + Self.entrySize <= entries.count {
            var value: UInt64 = 0
            for byte in entries[offset..<offset + 8] { value = value << 8 | UInt64(byte) }
            if value == counter { return entries[offset + 8..<offset + Self.entrySize] }
            offset += Self.entrySize
        }
        return nil
    }

    /// Whether this page vouches for `mutation` as its node wrote it (the signature is checked apart: `isValid`).
    public func covers(_ mutation: Mutation) -> Bool {
        mutation.origin == node && digest(of: mutation.counter).map { Array($0) == MutationDigest.of(mutation) } == true
    }

    /// As a server keeps it: key (32 bytes), signature (64), node (8, big-endian), entries.
    public var storedBytes: [UInt8] {
        var bytes = key + signature
        withUnsafeBytes(of: node.rawValue.bigEndian) { bytes.append(contentsOf: $0) }
        return bytes + entries
    }

    public init?(stored bytes: [UInt8]) {
        guard bytes.count >= 104, (bytes.count - 104) % Self.entrySize == 0 else { return nil }
        let node = bytes[96..<104].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        self.init(node: NodeID(rawValue: node), key: Array(bytes[0..<32]), entries: Array(bytes[104...]), signature: Array(bytes[32..<96]))
    }

    /// The counters it covers.
    public var counters: [UInt64] {
        stride(from: 0, to: entries.count - entries.count % Self.entrySize, by: Self.entrySize).map { offset in
            entries[offset..<offset + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        }
    }
}

/// A mutation's content as a 16-byte digest: SHA-256 (truncated) over its
/// origin, counter and changes in a canonical order, so that the same
/// mutation gives the same digest however a server regroups its changes
/// (the change log keeps a row per record, not the order they were sent in).
public enum MutationDigest {
    public static func of(_ mutation: Mutation) -> [UInt8] {
        var hasher = SHA256()
        var head = Array("fieldsync-mutation-v1".utf8)
        withUnsafeBytes(of: mutation.origin.rawValue.bigEndian) { head.append(contentsOf: $0) }
        withUnsafeBytes(of: mutation.counter.bigEndian) { head.append(contentsOf: $0) }
        hasher.update(data: head)
        // Every change's encoding in one buffer, then their ranges in byte order (a signing laptop
        // and a verifying server digest every pushed mutation: no array per change, no sort when
        // they are in order already).
        var bytes: [UInt8] = []
        bytes.reserveCapacity(mutation.changes.count * 96)
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(mutation.changes.count)
        for index in mutation.changes.indices {
            let start = bytes.count
            append(mutation.changes[index], to: &bytes)
            ranges.append(start..<bytes.count)
        }
        bytes.withUnsafeBufferPointer { buffer in
            func precedes(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
                UnsafeBufferPointer(rebasing: buffer[a]).lexicographicallyPrecedes(UnsafeBufferPointer(rebasing: buffer[b]))
            }
            if zip(ranges, ranges.dropFirst()).contains(where: { precedes($1, $0) }) { ranges.sort(by: precedes) }
            for range in ranges { hasher.update(bufferPointer: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: buffer[range]))) }
        }
        return Array(hasher.finalize().prefix(16))
    }

    /// One change as bytes that sort and compare as the change does: every text length-prefixed.
    static func encode(_ change: FieldChange) -> [UInt8] {
        var bytes: [UInt8] = []
        append(change, to: &bytes)
        return bytes
    }

    private static func append(_ change: FieldChange, to bytes: inout [UInt8]) {
        func text(_ string: String, _ bytes: inout [UInt8]) {
            let count = string.utf8.count
            withUnsafeBytes(of: UInt32(clamping: count).bigEndian) { bytes.append(contentsOf: $0) }
            bytes.append(contentsOf: string.utf8)
        }
        func number(_ value: UInt64, _ bytes: inout [UInt8]) { withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) } }
        text(change.table.rawValue, &bytes)
        text(change.record, &bytes)
        text(change.field, &bytes)
        switch change.value {
        case .null: bytes.append(0)
        case .int(let value):
            bytes.append(1)
            number(UInt64(bitPattern: value), &bytes)
        case .text(let value):
            bytes.append(2)
            text(value, &bytes)
        }
        number(change.hlc.rawValue, &bytes)
        number(change.node.rawValue, &bytes)
        number(change.base.rawValue, &bytes)
    }
}

extension SignedPage {
    /// The most pages one request carries (a relay page of 1,000 mutations from as many laptops).
    public static let maxPerRequest = 1_000

    /// `{"node":…,"key":…,"entries":…,"signature":…}`, the byte fields in base64.
    var jsonBytes: [UInt8] {
        Array(#"{"node":"\#(node)","key":"\#(Data(key).base64EncodedString())","entries":"\#(Data(entries).base64EncodedString())","signature":"\#(Data(signature).base64EncodedString())"}"#.utf8)
    }

    static func read(_ parser: inout JSONReader.Parser) throws -> SignedPage {
        var node: NodeID?, key: [UInt8]?, entries: [UInt8]?, signature: [UInt8]?
        // A field that is not base64 of a fitting size makes a page that vouches for nothing (`isValid` is false),
        // as one with a wrong signature does: it is the signature that decides, not the request.
        var malformed = false
        func bytes(_ text: String, _ name: String, max: Int) throws -> [UInt8] {
            guard let data = Data(base64Encoded: text), data.count <= max else {
                malformed = true
                return []
            }
            return Array(data)
        }
        try parser.object("signed page") { parser, field in
            switch field {
            case "node": node = try parser.node("signed.node")
            case "key": key = try bytes(try parser.string("signed.key"), "key", max: 32)
            case "entries": entries = try bytes(try parser.string("signed.entries"), "entries", max: maxEntries * entrySize)
            case "signature": signature = try bytes(try parser.string("signed.signature"), "signature", max: 64)
            default: try parser.skip()
            }
        }
        guard let node, let key, let entries, let signature else {
            throw WireJSON.DecodingError(description: "a signed page needs node, key, entries and signature")
        }
        return SignedPage(node: node, key: malformed ? [] : key, entries: entries, signature: signature)
    }
}

/// The Codable form of a page, the same JSON as `jsonBytes` (the oracle `WireJSON` is checked against).
extension SignedPage: Codable {
    enum CodingKeys: String, CodingKey { case node, key, entries, signature }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func bytes(_ key: CodingKeys) throws -> [UInt8] { Array(Data(base64Encoded: try container.decode(String.self, forKey: key)) ?? Data()) }
        self.init(node: try container.decode(NodeID.self, forKey: .node), key: try bytes(.key), entries: try bytes(.entries),
                  signature: try bytes(.signature))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(node, forKey: .node)
        try container.encode(Data(key).base64EncodedString(), forKey: .key)
        try container.encode(Data(entries).base64EncodedString(), forKey: .entries)
        try container.encode(Data(signature).base64EncodedString(), forKey: .signature)
    }
}
