/// The value of one field. Times are ISO 8601 text with an offset, flags are
/// 0/1 integers, enumerations are their text form (see `FieldType`).
public enum FieldValue: Hashable, Sendable, Codable, CustomStringConvertible {
    case null
    case int(Int64)
    case text(String)

    public var isNull: Bool { self == .null }

    public var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    public var int: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }

    public var bool: Bool { int.map { $0 != 0 } ?? false }

    public var description: String {
        switch self {
        case .null: return ""
        case .int(let value): return String(value)
        case .text(let value): return value
        }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else {
            self = .text(try container.decode(String.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .int(let value): try container.encode(value)
        case .text(let value): try container.encode(value)
        }
    }
}
