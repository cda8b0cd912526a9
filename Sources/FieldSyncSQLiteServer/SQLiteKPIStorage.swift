import FieldSyncKPI
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncServerCore
import FieldSyncStore

/// The SQLite engine's KPI inputs behind the protocol.
public struct SQLiteKPIStorage: KPIStorage {
    public let store: ServerStore

    public init(_ store: ServerStore) { self.store = store }

    public var kpiCache: KPIFactsCache { store.kpiCache }
    public var now: UInt64 { store.now }
    public func recordGeneration() async throws -> UInt64 { store.replica.recordGeneration }
    public func loadKPIFacts() async throws -> KPIFacts { try await offload { try store.replica.kpiFacts() } }
    public func serviceRecords(customer: String) async throws -> [RecordKind: [(id: String, fields: ServiceReport.Fields)]] {
        try await offload { try store.replica.serviceRecords(customer: customer) }
    }
    public func freshnessInputs() async throws -> (devices: [DeviceRecord], below: [String: FreshnessReport]) {
        try await offload { try store.freshnessInputs() }
    }
}
