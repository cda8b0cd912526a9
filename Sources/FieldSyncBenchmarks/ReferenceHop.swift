import FieldSyncSQLiteServer
import FieldSyncServer
import Foundation
import GRDBSQLite
import NIOCore
import NIOPosix
import NIOSSL

/// The reference the sync figures are compared with (issue 26): the same rows moved from one
/// SQLite database to another over TLS 1.3 on loopback by the plainest pipeline that does the
/// same hops — read every row, encode it (tagged binary), send it, receive it, decode it and
/// insert it in one transaction with a prepared statement. No merge, no log, no scope, no
/// stamps: what the hardware does with these rows, so "push within 2× of the hop" has a
/// meaning on any machine. Sender and receiver run in this process, on NIO's shared event loops.
enum ReferenceHop {
    struct Result {
        /// Wall seconds from the first row read to the receiver's commit.
        var seconds: Double
        /// Bytes sent (the encoded rows).
        var bytes: Int
        /// Rows in the destination afterwards (all of them, or the hop is wrong).
        var received: Int
    }

    /// Moves `rows` from a source database (written first, not timed) to an empty one.
    static func run(_ rows: VisitRows, folder: URL) async throws -> Result {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let source = folder.appendingPathComponent("hop-source.sqlite").path
        let destination = folder.appendingPathComponent("hop-destination.sqlite").path
        for path in [source, destination] { try? FileManager.default.removeItem(atPath: path) }
        try RawSQLite.insert(rows, path: source)
        let (server, client) = try tls(folder: folder.appendingPathComponent("hop-tls"))

        let group = MultiThreadedEventLoopGroup.singleton
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: server))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        guard let port = listener.channel.localAddress?.port else { throw BenchError("the hop's listener has no port") }

        quietDisk()
        let start = DispatchTime.now().uptimeNanoseconds
        async let receiving: Int = listener.executeThenClose { inbound in
            for try await connection in inbound {
                return try await connection.executeThenClose { inbound, outbound in
                    var buffer = ByteBuffer()
                    var expected: Int?
                    for try await chunk in inbound {
                        var chunk = chunk
                        buffer.writeBuffer(&chunk)
                        if expected == nil, buffer.readableBytes >= 8 { expected = buffer.readInteger(as: UInt64.self).map(Int.init) }
                        if let expected, buffer.readableBytes >= expected { break }
                    }
                    let count = try apply(&buffer, to: destination)
                    try await outbound.write(ByteBuffer(bytes: [1]))
                    return count
                }
            }
            throw BenchError("the hop's listener closed before a connection")
        }
        var payload = try extract(from: source)
        let connection = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: client, serverHostname: nil))
                return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
            }
        }
        let bytes = payload.readableBytes
        try await connection.executeThenClose { inbound, outbound in
            var header = ByteBuffer()
            header.writeInteger(UInt64(bytes))
            try await outbound.write(header)
            // In pieces of 1 MiB, as a stream would go.
            while payload.readableBytes > 0, let piece = payload.readSlice(length: min(1 << 20, payload.readableBytes)) {
                try await outbound.write(piece)
            }
            for try await _ in inbound { break }  // the receiver's commit
        }
        let received = try await receiving
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return Result(seconds: seconds, bytes: bytes, received: received)
    }

    /// Every row of the source's `visits`, encoded: the id, then per column a tag (0 null, 1 integer, 2 text) and its value.
    static func extract(from path: String) throws -> ByteBuffer {
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw BenchError("cannot open \(path)") }
        defer { sqlite3_close(db) }
        let columns = (["id"] + VisitRows.fields.map { "\"\($0)\"" }).joined(separator: ", ")
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, "SELECT \(columns) FROM visits", -1, &statement, nil) == SQLITE_OK else { throw BenchError("prepare failed") }
        defer { sqlite3_finalize(statement) }
        var buffer = ByteBuffer()
        buffer.reserveCapacity(64 << 20)
        while sqlite3_step(statement) == SQLITE_ROW {
            for column in 0...Int32(VisitRows.fieldCount) {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_NULL: buffer.writeInteger(UInt8(0))
                case SQLITE_INTEGER:
                    buffer.writeInteger(UInt8(1))
                    buffer.writeInteger(sqlite3_column_int64(statement, column))
                default:
                    let length = Int(sqlite3_column_bytes(statement, column))
                    buffer.writeInteger(UInt8(2))
                    buffer.writeInteger(UInt32(length))
                    if let text = sqlite3_column_text(statement, column) { buffer.writeBytes(UnsafeRawBufferPointer(start: text, count: length)) }
                }
            }
        }
        return buffer
    }

    /// Decodes the rows in `buffer` and inserts them into a new `visits` table at `path`, in one transaction.
    static func apply(_ buffer: inout ByteBuffer, to path: String) throws -> Int {
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK else { throw BenchError("cannot open \(path)") }
        defer { sqlite3_close(db) }
        func exec(_ sql: String) throws {
            guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw BenchError("\(sql): \(String(cString: sqlite3_errmsg(db)))") }
        }
        try exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-32768")
        let names = VisitRows.fields.map { "\"\($0)\"" }.joined(separator: ", ")
        try exec("CREATE TABLE visits (id TEXT PRIMARY KEY NOT NULL, \(names))")
        try exec("BEGIN")
        var statement: OpaquePointer?
        let placeholders = Array(repeating: "?", count: VisitRows.fieldCount + 1).joined(separator: ", ")
        guard sqlite3_prepare_v2(db, "INSERT INTO visits (id, \(names)) VALUES (\(placeholders))", -1, &statement, nil) == SQLITE_OK else {
            throw BenchError("prepare failed")
        }
        defer { sqlite3_finalize(statement) }
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        var count = 0
        while buffer.readableBytes > 0 {
            for column in 1...Int32(VisitRows.fieldCount + 1) {
                switch buffer.readInteger(as: UInt8.self) {
                case 0: sqlite3_bind_null(statement, column)
                case 1:
                    guard let value = buffer.readInteger(as: Int64.self) else { throw BenchError("a truncated integer") }
                    sqlite3_bind_int64(statement, column, value)
                case 2:
                    guard let length = buffer.readInteger(as: UInt32.self).map(Int.init), buffer.readableBytes >= length else {
                        throw BenchError("a truncated text")
                    }
                    buffer.withUnsafeReadableBytes { raw in
                        _ = sqlite3_bind_text(statement, column, raw.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(length), transient)
                    }
                    buffer.moveReaderIndex(forwardBy: length)
                default: throw BenchError("an unknown tag")
                }
            }
            guard sqlite3_step(statement) == SQLITE_DONE else { throw BenchError("insert failed: \(String(cString: sqlite3_errmsg(db)))") }
            sqlite3_reset(statement)
            count += 1
        }
        try exec("COMMIT")
        return count
    }

    /// The server's TLS as `fieldsync-server` configures it (a private CA's certificate), and a client
    /// that trusts that CA and speaks TLS 1.3 only.
    static func tls(folder: URL) throws -> (server: NIOSSLContext, client: NIOSSLContext) {
        try? FileManager.default.removeItem(at: folder)
        let data = ServerFolder(path: folder.path)
        let settings = try data.initialize(hosts: [], branch: nil, certificate: nil).settings
        guard let caPath = settings.caCertificate else { throw BenchError("the hop's server folder has no CA") }
        var server = try TLSConfiguration.fieldSyncServer(certificatePEM: String(contentsOfFile: settings.tlsCertificate, encoding: .utf8),
                                                          privateKeyPEM: String(contentsOfFile: settings.tlsKey, encoding: .utf8))
        server.minimumTLSVersion = .tlsv13
        var client = TLSConfiguration.makeClientConfiguration()
        client.minimumTLSVersion = .tlsv13
        client.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
        client.certificateVerification = .noHostnameVerification
        return (try NIOSSLContext(configuration: server), try NIOSSLContext(configuration: client))
    }
}
