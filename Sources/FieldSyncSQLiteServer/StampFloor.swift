import FieldSyncModel
import FieldSyncServerCore
import GRDB

extension StampFloor {
    /// The device's floor as the SQLite engine stores it.
    static func read(_ device: DeviceContext, now: UInt64, _ db: Database) throws -> StampFloor {
        let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT created_at, stamp_floor FROM devices WHERE id = ?"), arguments: [device.device])
        let enrolled = at(UInt64(clamping: (row?[0] as Int64?) ?? 0))
        return StampFloor(node: device.node, own: HLC(rawValue: UInt64(bitPattern: (row?[1] as Int64?) ?? 0)), enrolled: enrolled, now: now)
    }
}
