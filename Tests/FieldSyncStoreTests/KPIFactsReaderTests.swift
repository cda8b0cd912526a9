import FieldSyncKPI
import FieldSyncModel
import FieldSyncStore
import Foundation
import Testing

/// The column reader behind `Replica.kpiFacts()` gives exactly the facts the
/// generic `KPIFacts.add` gives from the same stored records.
@Suite struct KPIFactsReaderTests {
    @Test func theColumnReaderEqualsTheGenericPath() throws {
        let replica = try Replica.inMemory()
        try replica.initialize(ReplicaIdentity(node: NodeID(rawValue: 0xC1), branch: "Hangzhou", user: "Li Wei", createdAt: ""))
        var generator = SplitMix64(seed: 7)
        func id() -> String { RecordID.make(using: &generator) }
        func time(_ day: Int, _ minute: Int, offset: String = "+08:00") -> FieldValue {
            let day = 1 + day % 28, hour = minute / 60 % 24, minutes = minute % 60
            return .text("2026-11-\(day < 10 ? "0" : "")\(day)T\(hour < 10 ? "0" : "")\(hour):\(minutes < 10 ? "0" : "")\(minutes):00\(offset)")
        }
        var edits: [RecordEdit] = [
            RecordEdit(.calendarDay, RecordID.calendarDay(LocalDate(iso: "2026-10-01")!), [("date", .text("2026-10-01")), ("kind", .text("holiday"))]),
            RecordEdit(.calendarDay, RecordID.calendarDay(LocalDate(iso: "2026-10-10")!), [("date", .text("2026-10-10")), ("kind", .text("workday"))]),
            RecordEdit(.calendarDay, RecordID.calendarDay(LocalDate(iso: "2026-10-02")!), [("date", .text("2026-10-02")), ("kind", .text("holiday")), ("removed", .int(1))]),
        ]
        for number in 0..<20 {
            let customer = id()
            edits.append(RecordEdit(.customer, customer, [("name", .text("C\(number)")), ("level", .text(number % 3 == 0 ? "vip" : "standard")),
                                                          ("manager", number % 4 == 0 ? .null : .text("M\(number % 3)")), ("team", .text("A, B")),
                                                          ("since", number % 2 == 0 ? .text("2026-10-0\(number % 9 + 1)") : .null),
                                                          ("archived", .int(number % 7 == 0 ? 1 : 0))]))
            edits.append(RecordEdit(.agreement, id(), [("customer", .text(customer)), ("number", .text("A\(number)")), ("ends", .text("2027-0\(number % 9 + 1)-15")),
                                                       ("restore_hours", number % 2 == 0 ? .int(Int64(number + 1)) : .null),
                                                       ("renewal_notice_at", number % 3 == 0 ? .text("2026-12-01") : .null), ("removed", .int(number % 5 == 0 ? 1 : 0))]))
            for index in 0..<5 {
                let open = index % 2 == 0
                edits.append(RecordEdit(.fault, id(), [("customer", .text(customer)), ("symptom", .text("x")), ("reported_at", time(number, 60 * index)),
                                                       ("first_feedback_at", time(number, 60 * index + 20, offset: "+00:00")),
                                                       ("restored_at", open ? .null : time(number + 1, 30)), ("owner", index == 3 ? .null : .text("O\(index)")),
                                                       ("status", .text(open ? "1:reported" : "1:restored")), ("level", index == 4 ? .null : .text("vip"))]))
                let complaint = id()
                edits.append(RecordEdit(.complaint, complaint, [("customer", .text(customer)), ("channel", .text("phone")), ("content", .text("y")),
                                                                ("received_at", time(number, 90 * index)), ("escalated_at", open ? time(number + 3, 0) : .null),
                                                                ("resolved_at", open ? .null : time(number + 2, 0)), ("closed_at", open ? .null : time(number + 4, 0)),
                                                                ("owner", .text("K\(index)")), ("status", .text(open ? "1:received" : "1:closed"))]))
                edits.append(RecordEdit(.visit, id(), [("customer", .text(customer)), ("at", time(number + index, 600)),
                                                       ("kind", .text(VisitKind.allCases[index % 4].rawValue)), ("summary", .text("s")),
                                                       ("complaint", index % 4 == 1 ? .text(complaint) : .null), ("manager", .text("M\(index)")),
                                                       ("removed", .int(index == 2 ? 1 : 0))]))
            }
        }
        try replica.write(edits)

        let fast = try replica.kpiFacts()
        var generic = KPIFacts()
        for kind in [RecordKind.calendarDay, .customer, .agreement, .fault, .complaint, .visit] {
            for record in try replica.records(kind) {
                // The reader keeps only the visits a KPI counts.
                if kind == .visit, ![VisitKind.routine.rawValue, VisitKind.complaintFollowUp.rawValue].contains(record["kind"].text ?? "") { continue }
                let first = kind == .customer ? record.state.stamps.compactMap { $0?.hlc.milliseconds }.min()
                    .map { Timestamp(epochSeconds: Int64($0 / 1000), offsetMinutes: 0) } : nil
                let schema = kind.schema
                generic.add(kind, record.id, firstRecorded: first, field: { record.values[$0] ?? .null },
                            stamp: { name in schema.index(of: name).flatMap { record.state.stamps[$0]?.hlc.milliseconds } })
            }
        }
        #expect(fast.customers == generic.customers)
        #expect(fast.calendar.holidays == generic.calendar.holidays && fast.calendar.makeUpDays == generic.calendar.makeUpDays)
        #expect(fast.agreements.sorted { $0.id < $1.id } == generic.agreements.sorted { $0.id < $1.id })
        #expect(fast.faults.sorted { $0.id < $1.id } == generic.faults.sorted { $0.id < $1.id })
        #expect(fast.complaints.sorted { $0.id < $1.id } == generic.complaints.sorted { $0.id < $1.id })
        func order(_ a: KPIFacts.Visit, _ b: KPIFacts.Visit) -> Bool { (a.customer, a.at, a.kind) < (b.customer, b.at, b.kind) }
        #expect(fast.visits.sorted(by: order) == generic.visits.sorted(by: order))
        #expect(fast.faults.count == 100 && fast.agreements.count == 16 && fast.visits.count == 60, "routine and follow-up visits: 3 of 5 per customer")
    }

    /// The byte parser agrees with the String parser on every form the String one takes.
    @Test func timesParseTheSameFromBytes() {
        for text in ["2026-11-23T09:30:00+08:00", "2026-11-23T09:30+08:00", "2026-11-23 09:30:00Z", "2026-11-23", "2026-02-29T00:00:00Z",
                     "2026-11-23T24:00:00Z", "2026-11-23T09:30:00.123-05:30", "garbage", "", "2026-11-23T09:30:00+15:00"] {
            var copy = text
            let fromBytes = copy.withUTF8 { Timestamp(utf8: $0, defaultOffsetMinutes: 480) }
            #expect(fromBytes == Timestamp(iso: text, defaultOffsetMinutes: 480), "\(text)")
        }
    }
}

/// The report written as bytes is the document its `Encodable` form gives.
@Suite struct KPIJSONBytesTests {
    @Test func bytesAndEncoderGiveTheSameDocument() throws {
        var facts = KPIFacts()
        facts.customers["c1"] = KPIFacts.Customer(id: "c1", name: "Tower \"North\"\n塔\u{1}", branch: nil, manager: "Li \\ Wei", level: "vip")
        facts.faults = [KPIFacts.Fault(id: "f1", customer: "c1", reportedAt: Timestamp(iso: "2026-11-16T09:00:00+08:00")!, owner: nil)]
        facts.complaints = [KPIFacts.Complaint(id: "k1", customer: "c1", receivedAt: Timestamp(iso: "2026-11-16T09:00:00+08:00")!,
                                               firstFeedbackAt: Timestamp(iso: "2026-11-16T09:20:00+08:00")!,
                                               escalatedAt: Timestamp(iso: "2026-11-20T09:00:00+08:00")!, owner: "Alice")]
        let report = KPIEngine.report(facts, period: try ReportingPeriod("2026-11"), grouping: .manager,
                                      asOf: Timestamp(iso: "2026-11-30T09:00:00+08:00")!)
        #expect(report.total.misses.count > 3)
        func parsed(_ data: Data) throws -> NSObject { try JSONSerialization.jsonObject(with: data) as! NSObject }
        #expect(try parsed(Data(report.jsonBytes())) == parsed(JSONEncoder().encode(report)))
        let misses = report.total.misses
        #expect(try parsed(Data(KPIMiss.jsonBytes(misses))) == parsed(JSONEncoder().encode(misses)))
        #expect(try parsed(Data(KPIMiss.jsonBytes([]))) == parsed(JSONEncoder().encode([KPIMiss]())))
    }
}
