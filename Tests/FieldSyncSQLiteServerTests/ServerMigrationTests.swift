import FieldSyncModel
@testable import FieldSyncSQLiteServer
import FieldSyncServerCore
import FieldSyncTestSupport
import Foundation
import GRDB
import Testing

/// `server-v2-record-log` writes log blobs by hand, frozen as committed; the codec must read them as it always did.
@Suite struct ServerMigrationTests {
    @Test func theFrozenLogBlobIsTheCodecsFormat() throws {
        let values: [FieldValue] = [.null, .int(0), .int(-1), .int(.max), .text(""), .text("客户 \"quoted\"\n")]
        for kind in RecordKind.allCases {
            for (position, field) in kind.schema.fields.enumerated() {
                for value in values {
                    let change = FieldChange(table: kind, record: "r-1", field: field.name, value: value,
                                             hlc: HLC(rawValue: 0x0123_4567_89AB_CDEF), node: NodeID(rawValue: 0xFEDC_BA98_7654_3210),
                                             base: HLC(rawValue: 42))
                    let frozen = try #require(ServerStore.singleChangeBlob(field: UInt8(position), value: value, hlc: change.hlc.rawValue,
                                                                           node: change.node.rawValue, base: change.base.rawValue))
                    #expect(frozen == (try ChangeLogCodec.encode([change], schema: kind.schema)), "\(kind.rawValue).\(field.name) = \(value)")
                    var decoded: [FieldChange] = []
                    try frozen.withUnsafeBytes { try ChangeLogCodec.decode($0, table: kind, record: "r-1", into: &decoded) }
                    #expect(decoded == [change])
                }
            }
        }
    }

    /// The pulls name the province's lists from `RecordKind.isProvinceWide`; the partial index they
    /// read is frozen in a migration: a new province-wide kind needs the index made again.
    @Test func theProvinceWideIndexNamesEveryProvinceWideKind() throws {
        let folder = try TemporaryFolder()
        let store = try ServerStore.open(folder: folder.url.path)
        let sql = try store.writer.read { db in
            try String.fetchOne(db, sql: "SELECT sql FROM sqlite_master WHERE name = 'change_log_province_wide'")
        }
        #expect(sql?.contains("tbl IN (\(ServerStore.provinceWideTables))") == true, "\(sql ?? "no index")")
    }
}
