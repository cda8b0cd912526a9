/// A hybrid logical clock timestamp: 48 bits of wall-clock milliseconds since
/// the Unix epoch, then a 16-bit logical counter.
///
/// Packed in one integer so that comparing timestamps is comparing integers,
/// in memory, in SQLite and on the wire.
public struct HLC: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue
    }

    public init(milliseconds: UInt64, counter: UInt16) {
        self.rawValue = (milliseconds << 16) | UInt64(counter)
    }

    public static let zero = HLC(rawValue: 0)

    public var milliseconds: UInt64 { rawValue >> 16 }
    public var counter: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    public static func < (lhs: HLC, rhs: HLC) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "\(milliseconds).\(counter)" }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(UInt64.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// The state of a node's hybrid logical clock.
///
/// Pure: the wall clock is passed in, so tests drive it and a replica persists
/// `last` in the same transaction as the changes it stamped.
public struct HybridClock: Sendable, Equatable {
    public private(set) var last: HLC

    public init(last: HLC = .zero) {
        self.last = last
    }

    /// A timestamp for a local event: greater than every timestamp this node
    /// has issued or observed.
    public mutating func tick(nowMilliseconds now: UInt64) -> HLC {
        if now > last.milliseconds {
            last = HLC(milliseconds: now, counter: 0)
        } else if last.counter == UInt16.max {
            last = HLC(milliseconds: last.milliseconds + 1, counter: 0)
        } else {
            last = HLC(milliseconds: last.milliseconds, counter: last.counter + 1)
        }
        return last
    }

    /// Takes a remote timestamp into account, so the next local event orders after it.
    public mutating func observe(_ remote: HLC) {
        if remote > last { last = remote }
    }
}
