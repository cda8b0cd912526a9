import FieldSyncModel
import Testing

/// `CounterRanges` against a plain `Set<UInt64>`: the same members after any
/// inserts, and always its canonical form (sorted, disjoint, never touching).
@Suite struct CounterRangesTests {
    @Test func randomInsertsMatchASet() {
        var generator = SplitMix64(seed: 0xC0_0A7E)
        for round in 0..<500 {
            var ranges = CounterRanges()
            var plain = Set<UInt64>()
            // Mostly near-consecutive counters (how a node's pushes arrive), at both ends of the counter space.
            let base: UInt64 = round % 3 == 0 ? UInt64.max - 40 : round % 3 == 1 ? 0 : 1_000
            for _ in 0..<Int.random(in: 0...60, using: &generator) {
                let counter = base + UInt64.random(in: 0...40, using: &generator)
                let inserted = ranges.insert(counter)
                #expect(inserted == plain.insert(counter).inserted)
            }
            #expect(Self.members(ranges) == plain.sorted())
            #expect(ranges.count == UInt64(plain.count))
            for probe in (base...base + 40) { #expect(ranges.contains(probe) == plain.contains(probe)) }
            #expect(zip(ranges.ranges, ranges.ranges.dropFirst()).allSatisfy { $0.upperBound < UInt64.max && $0.upperBound + 1 < $1.lowerBound },
                    "\(ranges.ranges)")
            // Rebuilt from its ranges in any order, split or overlapping: the same set.
            let pieces = ranges.ranges.flatMap { range in
                range.count > 1 ? [range.lowerBound...range.lowerBound, range] : [range]
            }
            #expect(CounterRanges(pieces.shuffled(using: &generator)) == ranges)
        }
    }

    @Test func consecutiveCountersStayOneRun() {
        var ranges = CounterRanges()
        for counter in UInt64(1)...10_000 { ranges.insert(counter) }
        #expect(ranges.ranges == [1...10_000])
        let again = ranges.insert(5_000)
        #expect(!again)
        ranges.insert(10_002)
        #expect(ranges.ranges == [1...10_000, 10_002...10_002])
        ranges.insert(10_001)
        #expect(ranges.ranges == [1...10_002])
    }

    @Test func clustersJoinRunsAcrossSmallGapsOnly() {
        let ranges = CounterRanges([1...5, 10...10, 200...210, 274...280, 345...345, UInt64.max...UInt64.max])
        #expect(ranges.clusters(gap: 64) == [1...10, 200...280, 345...345, UInt64.max...UInt64.max], "63 counters between join, 64 do not")
        #expect(ranges.clusters(gap: 0) == ranges.ranges)
        #expect(CounterRanges().clusters(gap: 64).isEmpty)
    }

    @Test func theWholeCounterSpaceCountsWithoutTrapping() {
        let ranges = CounterRanges([0...UInt64.max, 5...7])
        #expect(ranges.ranges == [0...UInt64.max])
        #expect(ranges.count == .max)
        #expect(ranges.contains(.max) && ranges.contains(0))
    }

    private static func members(_ ranges: CounterRanges) -> [UInt64] {
        ranges.ranges.flatMap { Array($0) }
    }
}
