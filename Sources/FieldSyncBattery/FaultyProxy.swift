import Foundation

/// A TCP relay on 127.0.0.1 that injects network faults into the connections
/// it carries (`tc netem` does not work on these kernels): each connection is,
/// at random, passed through, cut after a random number of bytes, stalled for
/// a while, or slowed to small chunks. TLS passes through it untouched.
final class FaultyProxy: @unchecked Sendable {
    enum Fault: String, CaseIterable {
        case none, cut, stall, slow
    }

    let port: Int
    private let target: Int
    private let listener: Int32
    private let lock = NSLock()
    private var counts: [Fault: Int] = [:]
    private var stopped = false

    init(target: Int) throws {
        self.target = target
        let listening = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listening >= 0 else { throw BatteryError("socket() failed") }
        var yes: Int32 = 1
        setsockopt(listening, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ready = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listening, $0, length) == 0 && getsockname(listening, $0, &length) == 0 && listen(listening, 64) == 0
            }
        }
        guard ready else {
            close(listening)
            throw BatteryError("the proxy cannot listen on 127.0.0.1")
        }
        listener = listening
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { [self] in acceptLoop() }.start()
    }

    /// How many connections got each fault.
    var faults: [Fault: Int] { lock.withLock { counts } }

    func stop() {
        lock.withLock { stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return address
    }

    private func acceptLoop() {
        var generator = SystemRandomNumberGenerator()
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                if lock.withLock({ stopped }) { return }
                continue
            }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(port: target)
            let connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard connected else {
                close(client)
                close(upstream)
                continue
            }
            // Half of the connections pass untouched, the rest get one fault each.
            let fault: Fault = Bool.random(using: &generator) ? .none : [.cut, .stall, .slow].randomElement(using: &generator)!
            lock.withLock { counts[fault, default: 0] += 1 }
            let cutAfter = Int.random(in: 0...6_000, using: &generator)
            let pair = Pair(client: client, upstream: upstream)
            Thread { [self] in pump(from: client, to: upstream, fault: fault, cutAfter: cutAfter, pair: pair) }.start()
            Thread { [self] in pump(from: upstream, to: client, fault: fault, cutAfter: cutAfter, pair: pair) }.start()
        }
    }

    /// Both ends of one relayed connection. The first direction to end shuts both
    /// down (waking the other); the descriptors are closed only when both have
    /// ended, so a number is never reused by a new connection while a pump still
    /// reads or writes it (which would cross two connections' bytes).
    final class Pair: @unchecked Sendable {
        let client: Int32, upstream: Int32
        private let lock = NSLock()
        private var ended = 0

        init(client: Int32, upstream: Int32) {
            self.client = client
            self.upstream = upstream
        }

        func end() {
            lock.withLock {
                ended += 1
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(upstream, Int32(SHUT_RDWR))
                if ended == 2 {
                    close(client)
                    close(upstream)
                }
            }
        }
    }

    private func pump(from source: Int32, to destination: Int32, fault: Fault, cutAfter: Int, pair: Pair) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        var relayed = 0
        var stalled = false
        defer { pair.end() }
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return }
            var chunk = Array(buffer[0..<count])
            switch fault {
            case .cut:
                if relayed + chunk.count > cutAfter {
                    chunk = Array(chunk.prefix(max(0, cutAfter - relayed)))
                    _ = send(destination, chunk, chunk.count, Int32(MSG_NOSIGNAL))
                    return
                }
            case .stall:
                if !stalled, relayed + chunk.count > cutAfter {
                    stalled = true
                    usleep(UInt32.random(in: 500_000...3_000_000))
                }
            case .slow:
                for start in stride(from: 0, to: chunk.count, by: 512) {
                    let piece = Array(chunk[start..<min(start + 512, chunk.count)])
                    guard send(destination, piece, piece.count, Int32(MSG_NOSIGNAL)) == piece.count else { return }
                    usleep(2_000)
                }
                relayed += chunk.count
                continue
            case .none:
                break
            }
            var sent = 0
            while sent < chunk.count {
                let written = chunk[sent...].withUnsafeBytes { send(destination, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard written > 0 else { return }
                sent += written
            }
            relayed += chunk.count
        }
    }
}
