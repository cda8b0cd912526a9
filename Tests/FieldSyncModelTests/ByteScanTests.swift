import FieldSyncModel
import Testing

/// `ByteScan`'s word-at-a-time checks against the plain byte-at-a-time definitions,
/// on buffers of every length up to a few words, at every alignment.
@Suite struct ByteScanTests {
    @Test func agreesWithThePlainDefinitions() {
        var generator = SplitMix64(seed: 0xB7E5)
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...40, using: &generator)
            // Mostly ASCII letters, sometimes a zero or a high byte at a random place.
            var bytes = (0..<length + 8).map { _ in UInt8.random(in: 0x41...0x5A, using: &generator) }
            for _ in 0..<Int.random(in: 0...2, using: &generator) where !bytes.isEmpty {
                bytes[Int.random(in: bytes.indices, using: &generator)] = [0, 0x80, 0xFF, 0xE4].randomElement(using: &generator)!
            }
            let offset = Int.random(in: 0...7, using: &generator)
            var other = Array(bytes[offset..<offset + length])
            if !other.isEmpty, Bool.random(using: &generator) { other[Int.random(in: other.indices, using: &generator)] ^= 1 }
            bytes.withUnsafeBufferPointer { whole in
                let slice = UnsafeBufferPointer(rebasing: whole[offset..<offset + length])
                #expect(ByteScan.isASCII(slice) == slice.allSatisfy { $0 < 0x80 })
                #expect(ByteScan.containsZero(slice) == slice.contains(0))
                other.withUnsafeBufferPointer { second in
                    #expect(ByteScan.equal(slice, second) == slice.elementsEqual(second))
                }
            }
        }
        #expect(ByteScan.isASCII(UnsafeBufferPointer(start: nil, count: 0)))
        #expect(!ByteScan.containsZero(UnsafeBufferPointer(start: nil, count: 0)))
    }
}
