import FieldSyncServerCore
import Foundation

/// An exclusive lock on a data folder, held for the life of `serve` (and of
/// `store copy`, which must read a database no server is writing).
///
/// Two servers on one SQLite database would each keep their own idea of the
/// change log, the group commit and the applied marks, and hand out the same
/// log sequence twice. On PostgreSQL each instance has a folder of its own (a
/// copy), so the lock also names the one process `fieldsync-server stop`
/// signals. The lock is an advisory `flock` on `serve.lock` in the
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
                    "another fieldsync-server\(holder.map { " (process \($0))" } ?? "") is already serving \(folder.path); stop it first ('fieldsync-server stop --data \(folder.path)'), or give this one another --data folder (instances on one PostgreSQL database each serve a copy of the folder)",
                    text: ErrorText("admin.already-serving", ["process": holder.map { String($0) } ?? "?", "path": folder.path]))
            }
            throw ServerError.badRequest("cannot lock \(path): \(String(cString: strerror(reason)))")
        }
        self.descriptor = descriptor
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
    }

    deinit { close(descriptor) }

    /// The process serving `folder`, or nil when none is: the lock is free (or
    /// there is no lock file). Takes the lock for an instant to find out, so it
    /// never mistakes a stale process id in the file for a live server.
    public static func holder(of folder: ServerFolder) -> Int32? {
        let descriptor = open(folder.file("serve.lock"), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        if flock(descriptor, LOCK_SH | LOCK_NB) == 0 {
            _ = flock(descriptor, LOCK_UN)
            return nil
        }
        // Only a real process: `kill` with 0, -1 or a negative number signals whole groups, and the
        // file is text anyone who can write the folder could have changed.
        return holder(descriptor).flatMap { Int32($0) }.flatMap { $0 > 1 ? $0 : nil }
    }

    private static func holder(_ descriptor: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Int32(text).map { "\($0)" }
    }
}
