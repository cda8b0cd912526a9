import FieldSyncModel
import Foundation
import GRDB

/// The person and device behind a node, as the server's directory names them.
public struct NodeName: Codable, Sendable, Equatable {
    public var user: String
    public var device: String

    public init(user: String, device: String) {
        self.user = user
        self.device = device
    }
}

extension Replica {
    /// Who writes under the nodes this replica has met, from the server's last directory
    /// (local knowledge, never synced): for conflicts to name a person, not a node id.
    public func nodeNames() throws -> [NodeID: NodeName] {
        try writer.read { db in
            guard let text = try Self.meta(MetaKey.nodeNames, db),
                  let decoded = try? JSONDecoder().decode([String: NodeName].self, from: Data(text.utf8)) else { return [:] }
            return Dictionary(decoded.compactMap { key, name in NodeID(key).map { ($0, name) } }) { first, _ in first }
        }
    }

    /// Remembers the server's directory (it replaces the last one, keeping names of nodes it no longer lists).
    public func rememberNodeNames(_ names: [NodeID: NodeName]) throws {
        try writer.write { db in
            var known: [String: NodeName] = [:]
            if let text = try Self.meta(MetaKey.nodeNames, db) {
                known = (try? JSONDecoder().decode([String: NodeName].self, from: Data(text.utf8))) ?? [:]
            }
            for (node, name) in names { known[node.description] = name }
            let data = try JSONEncoder().encode(known)
            try Self.setMeta(MetaKey.nodeNames, String(decoding: data, as: UTF8.self), db)
        }
    }

    /// Nodes named in this replica's conflicts that the directory has no name for (this device's own aside).
    public func conflictNodesWithoutNames() throws -> Set<NodeID> {
        let known = try nodeNames()
        let me = try identity()?.node
        let nodes = try writer.read { db in
            try String.fetchAll(db, sql: "SELECT lost_node FROM conflicts UNION SELECT kept_node FROM conflicts")
        }
        return Set(nodes.compactMap(NodeID.init)).filter { $0 != me && known[$0] == nil }
    }
}
