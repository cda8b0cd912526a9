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

    public static func gunzip(_ buffer: ByteBuffer, maxSize: Int) throws -> ByteBuffer {
        var input = buffer
        return try input.decompress(with: .gzip(), maxSize: maxSize)
    }
}
