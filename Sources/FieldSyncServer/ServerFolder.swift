import FieldSyncModel
import FieldSyncStore
import Foundation

/// The server's data folder: `server.sqlite`, the private CA and the TLS
/// certificate (or the paths of the ones given at init), `config.json`.
public struct ServerFolder: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public struct Settings: Codable, Sendable {
        public var tlsCertificate: String
        public var tlsKey: String
        /// The CA laptops must trust, when the server made its own.
        public var caCertificate: String?

        enum CodingKeys: String, CodingKey {
            case tlsCertificate = "tls_certificate"
            case tlsKey = "tls_key"
            case caCertificate = "ca_certificate"
        }
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    public var isInitialized: Bool { FileManager.default.fileExists(atPath: file("config.json")) }

    public func settings() throws -> Settings {
        try JSONDecoder().decode(Settings.self, from: Data(contentsOf: URL(fileURLWithPath: file("config.json"))))
    }

    /// Creates the server replica and, unless a certificate is given, a private
    /// CA and a server certificate for `hosts` (+ localhost, 127.0.0.1).
    public func initialize(hosts: [String], branch: String?, certificate: (cert: String, key: String)?) throws -> (settings: Settings, node: NodeID) {
        if isInitialized { throw ServerError.badRequest("\(path) already holds a server; use another --data folder") }
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let settings: Settings
        if let certificate {
            for file in [certificate.cert, certificate.key] where !FileManager.default.fileExists(atPath: file) {
                throw ServerError.badRequest("no such file: \(file)")
            }
            settings = Settings(tlsCertificate: absolute(certificate.cert), tlsKey: absolute(certificate.key), caCertificate: nil)
        } else {
            let ca = try CertificateAuthority.makeCA(name: "FieldSync CA \(branch ?? "")".trimmingCharacters(in: .whitespaces))
            let server = try CertificateAuthority.makeServerCertificate(hosts: hosts, ca: ca)
            try write(ca.certificate, to: file("ca.pem"), mode: 0o644)
            try write(ca.privateKey, to: file("ca-key.pem"), mode: 0o600)
            try write(server.certificate, to: file("server.pem"), mode: 0o644)
            try write(server.privateKey, to: file("server-key.pem"), mode: 0o600)
            settings = Settings(tlsCertificate: file("server.pem"), tlsKey: file("server-key.pem"), caCertificate: file("ca.pem"))
        }
        let store = try ServerStore.open(folder: path)
        var generator = SystemRandomNumberGenerator()
        let node = NodeID.random(using: &generator)
        try store.replica.initialize(ReplicaIdentity(node: node, branch: branch, user: "server",
                                                     createdAt: Timestamp(epochSeconds: Int64(Date().timeIntervalSince1970), offsetMinutes: 0).description))
        // config.json last: its presence means "initialised".
        try write(String(decoding: try JSONEncoder().encode(settings), as: UTF8.self), to: file("config.json"), mode: 0o600)
        return (settings, node)
    }

    public func openStore() throws -> ServerStore {
        guard isInitialized else { throw ServerError.badRequest("no server in \(path); run 'fieldsync-server init' (or 'serve', which initialises an empty folder)") }
        return try ServerStore.open(folder: path)
    }

    private func absolute(_ file: String) -> String {
        file.hasPrefix("/") ? file : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(file)
    }

    private func write(_ text: String, to file: String, mode: Int) throws {
        guard FileManager.default.createFile(atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: mode]) else {
            throw ServerError.badRequest("cannot write \(file)")
        }
    }
}
