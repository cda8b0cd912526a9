import CompressNIO
import NIOCore

/// gzip for sync bodies over 64 KiB (`Content-Encoding: gzip` both ways):
/// a province-sized first sync is mostly repeated ids and field names, which
/// compress about tenfold, and field laptops sync over slow mobile links.
public enum BodyCompression {
    public static let threshold = 64 << 10

    /// Fast setting: the bodies are large and the win is mostly in repetition.
    static let algorithm = CompressionAlgorithm.gzip(configuration: .init(compressionLevel: 1))

    public static func gzip(_ bytes: [UInt8]) throws -> ByteBuffer {
        var buffer = ByteBuffer(bytes: bytes)
        return try buffer.compress(with: algorithm)
    }

    /// Whether `gunzip` failed because the body inflates past its `maxSize` (not because it is not gzip).
    public static func isOverflow(_ error: any Error) -> Bool {
        (error as? CompressNIOError) == .bufferOverflow
    }

    public static func gunzip(_ buffer: ByteBuffer, maxSize: Int) throws -> ByteBuffer {
        var input = buffer
        return try input.decompress(with: .gzip(), maxSize: maxSize)
    }

    /// A gzip body written in two parts, the second known later: the first is
    /// compressed when it is given (while the client waits for the answer before).
    /// Used by one task at a time, handed from the one that starts it to the one that finishes it.
    public final class TwoPartGzip: @unchecked Sendable {
        private let compressor = algorithm.compressor
        private var output: ByteBuffer

        public init(first: [UInt8]) throws {
            var input = ByteBuffer(bytes: first)
            try compressor.startStream()
            output = ByteBufferAllocator().buffer(capacity: compressor.maxSize(from: input) + 4_096)
            try compressor.streamDeflate(from: &input, to: &output, flush: .no)
        }

        /// The whole body, gzipped; `last` must be short (a few hundred bytes: the space kept for it).
        public func finish(_ last: [UInt8]) throws -> ByteBuffer {
            var input = ByteBuffer(bytes: last)
            try compressor.streamDeflate(from: &input, to: &output, flush: .finish)
            try compressor.finishStream()
            return output
        }
    }
}
