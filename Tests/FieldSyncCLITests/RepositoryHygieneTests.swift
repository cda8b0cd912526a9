import Foundation
import Testing

/// Issue 24, item 1: the clone once carried a server folder with its CA key,
/// server key and a live database, so every server that followed the README
/// served with a CA whose key everyone held. No tracked file may be a private
/// key or a SQLite database again.
@Suite struct RepositoryHygieneTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func noTrackedFileIsAPrivateKeyOrADatabase() throws {
        let files = try Self.trackedFiles()
        #expect(files.contains("Package.swift"), "git ls-files ran in \(Self.root.path)")
        var offenders: [String] = []
        for file in files {
            let url = Self.root.appendingPathComponent(file)
            guard let handle = try? FileHandle(forReadingFrom: url) else { continue }  // deleted in the work tree
            defer { try? handle.close() }
            let head = (try handle.read(upToCount: 1 << 20)) ?? Data()
            if Self.isSecretOrDatabase(head) { offenders.append(file) }
        }
        #expect(offenders.isEmpty, "tracked files that are keys or databases: \(offenders)")
    }

    /// The check itself recognises what it must refuse.
    @Test func theCheckKnowsKeysAndDatabases() {
        // Spelled in pieces, so this file does not hold the markers it looks for.
        let key = "PRIVATE " + "KEY-----"
        #expect(Self.isSecretOrDatabase(Data(("SQLite " + "format 3\u{0}rest").utf8)))
        #expect(Self.isSecretOrDatabase(Data("x\n-----BEGIN EC \(key)\nMHc\n".utf8)))
        #expect(Self.isSecretOrDatabase(Data("-----BEGIN \(key)\n".utf8)))
        #expect(Self.isSecretOrDatabase(Data("-----BEGIN OPENSSH \(key)\n".utf8)))
        #expect(!Self.isSecretOrDatabase(Data("-----BEGIN CERTIFICATE-----\n".utf8)))
        #expect(!Self.isSecretOrDatabase(Data("let marker = \"BEGIN \" + \"PRIVATE KEY\"".utf8)))
    }

    static func isSecretOrDatabase(_ head: Data) -> Bool {
        if head.starts(with: Array("SQLite format 3\u{0}".utf8)) { return true }
        let text = String(decoding: head, as: UTF8.self)
        return text.range(of: #"-----BEGIN ([A-Z0-9]+ )?PRIVATE KEY-----"#, options: .regularExpression) != nil
    }

    static func trackedFiles() throws -> [String] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", root.path, "ls-files", "-z"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "git ls-files failed in \(root.path)")
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }
}
