import Foundation

/// An exclusive lock on a data folder, held for the life of `serve`.
///
/// Two servers on one SQLite database would each keep their own idea of the
/// change log, the group commit and the applied marks, and hand out the same
/// log sequence twice. The lock is an advisory `flock` on `serve.lock` in the
/// folder: the kernel drops it when the process ends, however it ends, so a
/// crashed server never leaves a stale lock behind. The file holds the
/// holder's process id, for the message the second server prints.
public final class ServingLock: @unchecked Sendable {
    private let descriptor: Int32
    public let path: String

    /// Takes the lock or throws, naming the process that holds it.
    public init(folder: ServerFolder) throws {
        path = folder.file("serve.lock")
        let descriptor = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ServerError.badRequest("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let holder = Self.holder(descriptor)
            close(descriptor)
            if reason == EWOULDBLOCK {
                throw ServerError.badRequest(
                    "another fieldsync-server\(holder.map { " (process \($0))" } ?? "") is already serving \(folder.path); stop it first, or give this one another --data folder")
            }
            throw ServerError.badRequest("cannot lock \(path): \(String(cString: strerror(reason)))")
        }
        self.descriptor = descriptor
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    deinit { close(descriptor) }

    private static func holder(_ descriptor: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Int32(text).map { "\($0)" }
    }
}
