import NIOCore
import NIOPosix
import Synchronization

/// A TCP relay on 127.0.0.1 in front of a server that can cut a live
/// connection: armed with a direction and a byte budget, it forwards that many
/// more bytes in that direction, then closes both sides mid-stream. TLS runs
/// end to end through it, so the client sees exactly what a dropped network
/// does to it. The cut fires once; later connections pass untouched.
final class CuttingProxy: Sendable {
    enum Direction: Sendable { case request, response }

    private struct Cut { var direction: Direction; var remaining: Int }

    private let cut = Mutex<Cut?>(nil)
    private let cuts = Mutex(0)
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    let port: Int

    var url: String { "https://127.0.0.1:\(port)" }
    /// Connections cut so far.
    var cutCount: Int { cuts.withLock { $0 } }

    init(targetPort: Int) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let box = ProxyReference()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop)
                    .connect(host: "127.0.0.1", port: targetPort)
                    .flatMapThrowing { outbound in
                        let toServer = RelayHandler(direction: .request, proxy: box)
                        let toClient = RelayHandler(direction: .response, proxy: box)
                        toServer.partner = toClient
                        toClient.partner = toServer
                        try inbound.pipeline.syncOperations.addHandler(toServer)
                        try outbound.pipeline.syncOperations.addHandler(toClient)
                    }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        self.group = group
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
        box.proxy.withLock { $0 = self }
    }

    /// Cut the next connection after `bytes` more bytes in `direction`.
    func arm(_ direction: Direction, after bytes: Int) {
        cut.withLock { $0 = Cut(direction: direction, remaining: bytes) }
    }

    /// How many of `count` bytes may pass; fewer than `count` means cut now.
    fileprivate func allow(_ count: Int, _ direction: Direction) -> Int {
        let allowed = cut.withLock { state -> Int in
            guard let current = state, current.direction == direction else { return count }
            if count < current.remaining {
                state!.remaining -= count
                return count
            }
            state = nil
            return current.remaining
        }
        if allowed < count { cuts.withLock { $0 += 1 } }
        return allowed
    }

    func stop() async throws {
        try await channel.close()
        try await group.shutdownGracefully()
    }
}

/// Lets handlers made before the proxy finished initialising reach it.
private final class ProxyReference: Sendable {
    let proxy = Mutex<CuttingProxy?>(nil)
}

/// One half of a relay: what arrives on its channel goes out on its partner's.
/// Both channels of a relay share one event loop, so partners call each other directly.
private final class RelayHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let direction: CuttingProxy.Direction
    let proxy: ProxyReference
    var partner: RelayHandler?
    private var context: ChannelHandlerContext?

    init(direction: CuttingProxy.Direction, proxy: ProxyReference) {
        self.direction = direction
        self.proxy = proxy
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil; partner = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        let count = buffer.readableBytes
        let allowed = proxy.proxy.withLock { $0 }?.allow(count, direction) ?? count
        if allowed < count {
            if allowed > 0, let part = buffer.readSlice(length: allowed) { partner?.send(part) }
            partner?.context?.close(promise: nil)
            context.close(promise: nil)
            return
        }
        partner?.send(buffer)
    }

    func channelInactive(context: ChannelHandlerContext) {
        partner?.context?.close(promise: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func send(_ buffer: ByteBuffer) {
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }
}
