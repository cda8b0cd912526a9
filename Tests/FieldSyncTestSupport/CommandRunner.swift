import Foundation

/// Runs a built executable of this package (e.g. `fieldsync`) the way a
/// person would, and returns what it printed and its exit code.
public struct CommandRunner: Sendable {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    public let executable: URL
    public var environment: [String: String]

    /// Finds `name` beside the test bundle (SwiftPM puts products and tests in one folder).
    public init(product name: String, environment: [String: String] = [:]) throws {
        let candidates = [
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
            Bundle.main.bundleURL,
        ]
        guard let folder = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent(name).path) }) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "\(name) not built beside \(candidates[0].path)"])
        }
        executable = folder.appendingPathComponent(name)
        // FieldSync's own programs speak English unless a test says otherwise, whatever the machine's locale.
        self.environment = ["LANG": "C.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""].merging(environment) { _, given in given }
    }

    /// Any program, e.g. a browser from the system's packages.
    public init(executable: URL, environment: [String: String] = [:]) {
        self.executable = executable
        self.environment = environment
    }

    /// `run` off the Swift concurrency pool, so a slow program never starves an in-process server.
    public func runDetached(_ arguments: [String]) async throws -> Result {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Swift.Result { try run(arguments) }) }
        }
    }

    @discardableResult
    public func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes to the end before waiting, so a chatty child never blocks on a full pipe.
        let errData = ReadBox()
        let finished = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            errData.data = err.fileHandleForReading.readDataToEndOfFile()
            finished.signal()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        finished.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus,
                      stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData.data, as: UTF8.self))
    }

    /// Starts the command and returns the running process (for kill tests).
    public func start(_ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }
}

private final class ReadBox: @unchecked Sendable {
    // Guarded by the lock; written by the reader queue, read after the semaphore.
    private let lock = NSLock()
    private var storage = Data()

    var data: Data {
        get { lock.withLock { storage } }
        set { lock.withLock { storage = newValue } }
    }
}
