import Foundation
import NIOCore
import Synchronization

/// How many connections one remote address holds at once, so that a single
/// address cannot take the whole `--max-connections` with sockets that never
/// finish a TLS handshake (as nginx's `limit_conn` and HAProxy's per-source
/// `conn_cur` rules do). A connection over the limit is closed as soon as it
/// is accepted, before any TLS work is spent on it.
///
/// The limit is per IP address, not per device: it is generous enough for a
/// branch office of laptops behind one NAT address (a sync holds a connection
/// for seconds, an idle one is closed after the idle deadline).
public final class ConnectionGuard: Sendable {
    public let perAddress: Int
    private let open = Mutex<[String: Int]>([:])

    public init(perAddress: Int) { self.perAddress = max(1, perAddress) }

    /// Counts a new connection from `address`; false when that address holds `perAddress` already.
    func admit(_ address: String) -> Bool {
        open.withLock { open in
            let count = open[address, default: 0]
            guard count < perAddress else { return false }
            open[address] = count + 1
            return true
        }
    }

    func release(_ address: String) {
        open.withLock { open in
            guard let count = open[address] else { return }
            if count <= 1 { open[address] = nil } else { open[address] = count - 1 }
        }
    }

    /// Connections open now from `address` (tests, metrics).
    public func count(_ address: String) -> Int { open.withLock { $0[address, default: 0] } }

    /// What limits count by: an IPv4 address, or an IPv6 address's /64 (one
    /// host is usually given a whole /64, and rotating through it would
    /// otherwise evade every limit).
    public static func key(_ address: String) -> String {
        guard address.contains(":") else { return address }
        var bytes = [UInt8](repeating: 0, count: 16)
        guard inet_pton(AF_INET6, address, &bytes) == 1 else { return address }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            return bytes[12...].map(String.init).joined(separator: ".")  // an IPv4 address mapped into IPv6
        }
        return bytes[..<8].map { String(format: "%02x", $0) }.joined() + "::/64"
    }

    /// The handler that counts one connection; added first to every accepted channel.
    func handler() -> ConnectionGuardHandler { ConnectionGuardHandler(guard: self) }
}

/// Counts its channel against the remote address's limit while it is open.
final class ConnectionGuardHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    private let connectionGuard: ConnectionGuard
    private var counted: String?

    init(guard connectionGuard: ConnectionGuard) { self.connectionGuard = connectionGuard }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if counted == nil { admit(context) }
        context.fireChannelActive()
    }

    private func admit(_ context: ChannelHandlerContext) {
        // Unix sockets and unknown peers are not counted (the server listens on TCP only).
        guard let address = context.channel.remoteAddress?.ipAddress.map(ConnectionGuard.key) else { return }
        if connectionGuard.admit(address) {
            counted = address
        } else {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        releaseOnce()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { releaseOnce() }

    private func releaseOnce() {
        if let counted { connectionGuard.release(counted) }
        counted = nil
    }
}
