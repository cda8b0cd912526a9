/// A set of counters kept as sorted, disjoint, non-adjacent closed ranges.
///
/// A node numbers its mutations 1, 2, 3, … and a server applies them mostly in
/// that order, so the counters it has applied from one node are a few runs (one,
/// usually): remembering the runs instead of every counter saves a row write per
/// mutation on the server's one writer.
public struct CounterRanges: Sendable, Equatable {
    public private(set) var ranges: [ClosedRange<UInt64>]

    public init() { ranges = [] }

    /// From ranges in any order, overlapping or not.
    public init<S: Sequence>(_ ranges: S) where S.Element == ClosedRange<UInt64> {
        self.init()
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) { append(range) }
    }

    public var isEmpty: Bool { ranges.isEmpty }

    /// How many counters the set holds (saturating: the full UInt64 range does not fit).
    public var count: UInt64 {
        var total: UInt64 = 0
        for range in ranges {
            let (size, wrapped) = (range.upperBound - range.lowerBound).addingReportingOverflow(1)
            let (sum, overflow) = total.addingReportingOverflow(size)
            if wrapped || overflow { return .max }
            total = sum
        }
        return total
    }

    public func contains(_ counter: UInt64) -> Bool {
        guard let index = lastIndex(startingAtOrBelow: counter) else { return false }
        return ranges[index].contains(counter)
    }

    /// Adds a counter; false if it was there already.
    @discardableResult
    public mutating func insert(_ counter: UInt64) -> Bool {
        // The common case: the next counter after the last run.
        if let last = ranges.last, last.upperBound < counter {
            if last.upperBound + 1 == counter {
                ranges[ranges.count - 1] = last.lowerBound...counter
            } else {
                ranges.append(counter...counter)
            }
            return true
        }
        let below = lastIndex(startingAtOrBelow: counter)
        if let below, ranges[below].contains(counter) { return false }
        let above = below.map { $0 + 1 } ?? 0
        let joinsAbove = above < ranges.count && counter + 1 == ranges[above].lowerBound
        if let below, ranges[below].upperBound + 1 == counter {
            ranges[below] = ranges[below].lowerBound...(joinsAbove ? ranges[above].upperBound : counter)
            if joinsAbove { ranges.remove(at: above) }
        } else if joinsAbove {
            ranges[above] = counter...ranges[above].upperBound
        } else {
            ranges.insert(counter...counter, at: above)
        }
        return true
    }

    /// The runs grouped where fewer than `gap` counters lie between one and the next:
    /// spans to read together (a lookup per span instead of per run, none across a wide gap).
    public func clusters(gap: UInt64) -> [ClosedRange<UInt64>] {
        var result: [ClosedRange<UInt64>] = []
        for range in ranges {
            if let last = result.last, range.lowerBound - last.upperBound <= gap {
                result[result.count - 1] = last.lowerBound...range.upperBound
            } else {
                result.append(range)
            }
        }
        return result
    }

    /// Appends a range that starts at or after the last one's start, merging what overlaps or touches.
    private mutating func append(_ range: ClosedRange<UInt64>) {
        guard let last = ranges.last, last.upperBound == .max || range.lowerBound <= last.upperBound + 1 else {
            ranges.append(range)
            return
        }
        ranges[ranges.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
    }

    /// The last range whose lower bound is at most `counter`.
    private func lastIndex(startingAtOrBelow counter: UInt64) -> Int? {
        var (low, high) = (0, ranges.count)
        while low < high {
            let middle = (low + high) / 2
            if ranges[middle].lowerBound <= counter { low = middle + 1 } else { high = middle }
        }
        return low == 0 ? nil : low - 1
    }
}
