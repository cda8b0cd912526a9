/// A replica's stable identity: 64 random bits, written as 16 lowercase hex digits.
/// Ties between equal HLC timestamps break on it.
public struct NodeID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    /// Exactly the written form: 16 lowercase hex digits (no sign, no upper case).
    public init?(_ text: String) {
        guard text.utf8.count == 16, text.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
              let value = UInt64(text, radix: 16) else { return nil }
        self.rawValue = value
    }

    public static func random<G: RandomNumberGenerator>(using generator: inout G) -> NodeID {
        NodeID(rawValue: generator.next())
    }

    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { hex16(rawValue) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let node = NodeID(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "node id must be 16 hex digits, got '\(text)'")
        }
        self = node
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

func hex16(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
}
