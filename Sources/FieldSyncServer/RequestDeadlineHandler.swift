import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Drops connections that hold the server without finishing a request or
/// without reading its answer: a connection must send its first request head
/// within `first` of opening (which covers the TLS handshake: a socket that
/// never completes one holds its slot that long at most), later heads within
/// `idle` of the last response, and each whole request within `read` of its
/// head; and a response the client stops reading (the channel stays
/// unwritable, as when a snapshot download stalls) is cut after `read` too,
/// which frees what it held (a snapshot slot, its file). Handling a request is
/// not bounded here, only reading it and sending its answer.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let first: TimeAmount
    private let idle: TimeAmount
    private let read: TimeAmount
    private var deadline: Scheduled<Void>?
    private var stall: Scheduled<Void>?
    /// Between a request's head and the end of its answer.
    private var answering = false

    init(first: TimeAmount? = nil, idle: TimeAmount, read: TimeAmount) {
        self.first = first ?? idle
        self.idle = idle
        self.read = read
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(first, context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        stall?.cancel()
        stall = nil
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            stall?.cancel()
            stall = nil
        } else if stall == nil {
            let channel = context.channel
            stall = context.eventLoop.scheduleTask(in: read) { channel.close(promise: nil) }
        }
        context.fireChannelWritabilityChanged()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            answering = true
            arm(read, context)
        case .end:
            // A request whose answer went out before its body was read (a 401, a 404) ends with
            // the connection idle again: its idle deadline runs from here, never from nothing.
            if answering {
                deadline?.cancel()
                deadline = nil
            } else {
                arm(idle, context)
            }
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            answering = false
            arm(idle, context)
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        stall?.cancel()
        stall = nil
        context.fireChannelInactive()
    }

    private func arm(_ amount: TimeAmount, _ context: ChannelHandlerContext) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: amount) { channel.close(promise: nil) }
    }
}
