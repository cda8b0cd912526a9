import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Drops connections that hold the server without finishing a request: a
/// connection must send a request head within `idle` of opening (which covers
/// the TLS handshake) or of its last response, and the whole request within
/// `read` of its head. Handling a request is not bounded here, only reading it.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let idle: TimeAmount
    private let read: TimeAmount
    private var deadline: Scheduled<Void>?

    init(idle: TimeAmount, read: TimeAmount) {
        self.idle = idle
        self.read = read
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(idle, context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: arm(read, context)
        case .end:
            deadline?.cancel()
            deadline = nil
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(idle, context) }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    private func arm(_ amount: TimeAmount, _ context: ChannelHandlerContext) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: amount) { channel.close(promise: nil) }
    }
}
