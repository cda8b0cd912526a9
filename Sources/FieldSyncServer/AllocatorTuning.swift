#if canImport(Glibc)
import Glibc
#endif

/// The C allocator's settings for a long-running server process.
public enum AllocatorTuning {
    /// Keeps freed memory in the process instead of handing it back to the kernel after every
    /// request burst: glibc trims a heap's free top above 128 KiB by default, so each sync's
    /// allocations faulted fresh pages in again (about a tenth of the server's CPU under load was
    /// page faults). Memory a quiet server holds stays bounded by the busiest moment's.
    public static func forServing() {
        #if canImport(Glibc)
        // `mallopt` is not in the Glibc module (malloc.h is not part of it): found by name, called as C.
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        let trimThreshold: Int32 = -1, topPad: Int32 = -2  // M_TRIM_THRESHOLD, M_TOP_PAD in malloc.h
        _ = mallopt(trimThreshold, 64 << 20)
        _ = mallopt(topPad, 16 << 20)
        #endif
    }
}
