import FieldSyncModel
import FieldSyncProtocol
import Foundation

/// What a replica keeps about the server it is enrolled with, in
/// `server.json` (mode 0600: it holds the device token) beside the replica,
/// with the CA the server was verified against in `ca.pem`.
public struct ServerBinding: Codable, Sendable {
    public var url: String
    public var token: String
    public var device: String
    public var user: UserInfo
    public var serverNode: NodeID
    /// The name this laptop enrolled under (the server shows its work by it); nil in a file written before it was kept.
    public var deviceName: String?

    public static let fileName = "server.json"
    public static let caFileName = "ca.pem"

    public init(url: String, token: String, device: String, user: UserInfo, serverNode: NodeID) {
        self.url = url
        self.token = token
        self.device = device
        self.user = user
        self.serverNode = serverNode
    }

    enum CodingKeys: String, CodingKey {
        case url, token, device, user
        case serverNode = "server_node"
        case deviceName = "device_name"
    }

    public static func load(home: String) throws -> (binding: ServerBinding, caPEM: String)? {
        let file = (home as NSString).appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: file) else { return nil }
        let binding = try JSONDecoder().decode(ServerBinding.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        let ca = try String(contentsOfFile: (home as NSString).appendingPathComponent(caFileName), encoding: .utf8)
        return (binding, ca)
    }

    public func save(home: String, caPEM: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try write(encoder.encode(self), to: (home as NSString).appendingPathComponent(Self.fileName), mode: 0o600)
        try write(Data(caPEM.utf8), to: (home as NSString).appendingPathComponent(Self.caFileName), mode: 0o600)
    }

    private func write(_ data: Data, to path: String, mode: Int) throws {
        // Write beside, then rename: a crash never leaves half a token file.
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: mode]) else {
            throw SyncError("cannot write \(temporary)", key: "sync.cannot-write", ["path": temporary])
        }
        _ = try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.moveItem(atPath: temporary, toPath: path)
    }
}

/// A sync or enrolment failure, worded for the person at the laptop.
public struct SyncError: Error, Sendable, CustomStringConvertible {
    public let message: String
    /// The server's error code, when the server answered.
    public let code: String?
    /// The server's clock, carried by a `clock_skew` refusal.
    public let serverTime: UInt64?
    /// The server's incarnation, carried by a `server_restored` refusal.
    public var incarnation: String?
    /// The server's certificate was refused (not from the trusted CA, expired, another host's).
    public var isUntrustedCertificate = false
    /// The HTTP status of an answer that was not 200 (nil: no answer).
    public var status: Int?

    /// The same message as a text key (`sync.*`) and its values (`server`, `detail` …), for a program
    /// that speaks the reader's language; `message` stays English for logs.
    public var key: String?
    public var values: [String: String] = [:]

    public init(_ message: String, code: String? = nil, serverTime: UInt64? = nil, incarnation: String? = nil,
                key: String? = nil, _ values: [String: String] = [:]) {
        self.message = message
        self.code = code
        self.serverTime = serverTime
        self.incarnation = incarnation
        self.key = key
        self.values = values
    }

    public var description: String { message }
}

extension SyncError {
    /// The server's error codes whose meaning a client says in its own words (`sync.code.CODE`);
    /// for the others it shows the server's message.
    public static let explainedCodes: Set<String> = [
        ErrorCode.unauthorized, ErrorCode.deviceRevoked, ErrorCode.codeInvalid, ErrorCode.codeUsed, ErrorCode.codeExpired,
        ErrorCode.nodeTaken, ErrorCode.upgradeRequired, ErrorCode.internalError, ErrorCode.storageFull,
    ]
}
