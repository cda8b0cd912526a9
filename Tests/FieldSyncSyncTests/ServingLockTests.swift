import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncTestSupport
import Foundation
import Testing

/// `fieldsync-server stop` signals the process named in `serve.lock` while the lock is held:
/// never a process group (0, -1, negatives), whatever the file says.
@Suite struct ServingLockTests {
    @Test func onlyAHeldLockWithARealProcessNamesAHolder() throws {
        let folder = try TemporaryFolder()
        let data = ServerFolder(path: folder.path("data"))
        try FileManager.default.createDirectory(atPath: data.path, withIntermediateDirectories: true)
        #expect(ServingLock.holder(of: data) == nil, "no lock file")
        let lock = try ServingLock(folder: data)
        #expect(ServingLock.holder(of: data) == getpid())
        for text in ["-1", "0", "1", "-4242", "x"] {
            try Data("\(text)\n".utf8).write(to: URL(fileURLWithPath: lock.path))
            #expect(ServingLock.holder(of: data) == nil, "\(text)")
        }
        withExtendedLifetime(lock) {}
    }
}
