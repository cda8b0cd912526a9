import FieldSyncClient
import FieldSyncKPI
import FieldSyncLocalization
import FieldSyncModel
import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncStore
import FieldSyncTestSupport
import Foundation
import Testing

/// A supervisor's figures computed offline on their own replica equal the
/// server's for the same branch and period; the calendar set on the server
/// reaches the laptops; records made offline and synced late count by their
/// event times.
@Suite struct KPIEndToEndTests {
    static let asOf = "2026-10-20T09:00:00+08:00"

    @Test(arguments: EngineKind.available)
    func supervisorOfflineFiguresEqualTheServers(engine: EngineKind) async throws {
        // Files are entered on 18 November 2026 (the clock every node reads), after the events.
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            // National Day: 1–7 October off, Saturday 10 October worked (调休).
            try await server.writeLocal((1...7).map { day in
                let date = LocalDate(year: 2026, month: 10, day: day)!
                return RecordEdit(.calendarDay, RecordID.calendarDay(date), [("date", .text(date.description)), ("kind", .text("holiday"))])
            })
            let makeUp = LocalDate(year: 2026, month: 10, day: 10)!
            try await server.writeLocal([RecordEdit(.calendarDay, RecordID.calendarDay(makeUp), [("date", .text(makeUp.description)), ("kind", .text("workday"))])])

            let alice = try await Laptop.enrol("Alice", server: server, folder: folder, branch: "Hangzhou", clock: clock.now)
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder, branch: "Hangzhou", clock: clock.now)
            let eve = try await Laptop.enrol("Eve", server: server, folder: folder, branch: "Ningbo", clock: clock.now)
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, branch: "Hangzhou", clock: clock.now)
            var generator = SplitMix64(seed: 47)
            func id() -> String { RecordID.make(using: &generator) }

            // Alice's VIP customer: a complaint received before the holiday, resolved on the make-up Saturday (met),
            // first feedback after 70 minutes (VIP limit 1 h: missed).
            let tower = id()
            try alice.replica.write([RecordEdit(.customer, tower, [("name", .text("Tower Co")), ("level", .text("vip")), ("branch", .text("Hangzhou")), ("manager", .text("Alice"))])])
            try alice.replica.write([RecordEdit(.complaint, id(), [
                ("customer", .text(tower)), ("channel", .text("phone")), ("content", .text("slow repair")),
                ("received_at", .text("2026-09-30T10:00:00+08:00")), ("first_feedback_at", .text("2026-09-30T11:10:00+08:00")),
                ("resolved_at", .text("2026-10-10T17:00:00+08:00")), ("status", .text("1:resolved")), ("level", .text("vip")),
            ])])
            try await alice.sync()

            // Bob worked offline for days: a fault reported 12 October, feedback after 20 minutes, synced on the 19th.
            let shop = id()
            try bob.replica.write([RecordEdit(.customer, shop, [("name", .text("Shop")), ("level", .text("standard")), ("branch", .text("Hangzhou")), ("manager", .text("Bob"))])])
            try bob.replica.write([RecordEdit(.fault, id(), [
                ("customer", .text(shop)), ("symptom", .text("no signal")), ("reported_at", .text("2026-10-12T09:00:00+08:00")),
                ("first_feedback_at", .text("2026-10-12T09:20:00+08:00")), ("restore_by", .text("2026-10-12T18:00:00+08:00")),
                ("status", .text("1:in-progress")), ("level", .text("standard")),
            ])])
            try bob.replica.write([RecordEdit(.visit, id(), [
                ("customer", .text(shop)), ("at", .text("2026-10-14T10:00:00+08:00")), ("kind", .text("routine")), ("summary", .text("routine check")),
            ])])
            try await bob.sync()

            // Another branch's records stay out of Hangzhou's figures.
            let port = id()
            try eve.replica.write([RecordEdit(.customer, port, [("name", .text("Port")), ("level", .text("standard")), ("branch", .text("Ningbo")), ("manager", .text("Eve"))])])
            try eve.replica.write([RecordEdit(.fault, id(), [
                ("customer", .text(port)), ("symptom", .text("down")), ("reported_at", .text("2026-10-13T09:00:00+08:00")), ("status", .text("1:reported")),
            ])])
            try await eve.sync()

            try await sue.sync()
            #expect(try sue.replica.records(.calendarDay).count == 8, "the calendar reached the supervisor's laptop")
            #expect(try bob.replica.records(.calendarDay).count == 8)

            // Offline, on Sue's replica.
            let period = try ReportingPeriod("2026-10-01..2026-10-31")
            let offline = KPIEngine.report(try sue.replica.kpiFacts(), period: period, grouping: .manager, asOf: Timestamp(iso: Self.asOf)!)
            // Alice's only complaint was received on 30 September and resolved on 10 October with no
            // follow-up visit since: that visit was due within 2 working days of the resolution (guide
            // §2.4.2(6)), a miss in October. Bob's customer counts for the week he visited it.
            #expect(offline.groups.map(\.name) == ["Alice", "Bob"])
            #expect(offline.groups.first { $0.name == "Alice" }?.figure(.complaintFollowUpVisit).missed == 1)
            let bobGroup = try #require(offline.groups.first { $0.name == "Bob" })
            #expect(bobGroup.figure(.visitCoverage).met == 1)
            #expect(bobGroup.figure(.faultFirstFeedback).met == 1, "event times count, not the late sync")
            #expect(bobGroup.figure(.faultRestoration).missed == 1, "still open past the agreed time")
            let september = KPIEngine.report(try sue.replica.kpiFacts(), period: try ReportingPeriod("2026-09"), grouping: .manager,
                                             asOf: Timestamp(iso: Self.asOf)!)
            let aliceSeptember = try #require(september.groups.first { $0.name == "Alice" })
            #expect(aliceSeptember.figure(.complaintResolution).met == 1, "resolved on the make-up Saturday, the third working day")
            #expect(aliceSeptember.figure(.complaintFirstFeedback).missed == 1)

            // The server, asked by Sue over HTTPS, agrees to the byte (after normalising key order).
            for (period, report) in [([("start", "2026-10-01"), ("days", "31")], offline), ([("period", "2026-09")], september)] {
                let online = try await sue.client.get("/v1/kpi", query: period + [("by", "manager"), ("as_of", Self.asOf)], token: sue.binding.token)
                #expect(try Self.normalised(online) == Self.normalised(Array(JSONEncoder().encode(report))), "period \(period)")
            }
            // A manager sees only their own figures; an unknown period is a readable 400.
            let mine = try await alice.client.get("/v1/kpi", query: [("period", "2026-09"), ("as_of", Self.asOf)], token: alice.binding.token)
            let groups = try #require(try JSONSerialization.jsonObject(with: Data(mine)) as? [String: Any])["groups"] as? [[String: Any]]
            #expect(groups?.compactMap { $0["name"] as? String } == ["Alice"])
            let refused = await #expect(throws: SyncError.self) {
                try await alice.client.get("/v1/kpi", query: [("period", "2026-W60")], token: alice.binding.token)
            }
            #expect(refused?.message.contains("no ISO week 60") == true)

            // The to-do list: Bob's fault, open past its agreed restoration time, and Alice's follow-up visit.
            let todo = try await sue.client.get("/v1/kpi/todo", query: [("as_of", Self.asOf)], token: sue.binding.token)
            let items = try #require(try JSONSerialization.jsonObject(with: Data(todo)) as? [[String: Any]])
            #expect(items.map { $0["kpi"] as? String } == ["fault_restoration", "complaint_follow_up_visit"])

            // Only the province sets the calendar.
            let christmas = LocalDate(year: 2026, month: 12, day: 25)!
            try alice.replica.write([RecordEdit(.calendarDay, RecordID.calendarDay(christmas), [("date", .text(christmas.description)), ("kind", .text("holiday"))])])
            let summary = try await alice.sync()
            #expect(summary.rejected.first?.reason.contains("set by the province") == true)

            for laptop in [alice, bob, eve, sue] { await laptop.close() }
        }
    }

    /// The province's default restoration limit (issue 28, item 5) is a replicated
    /// setting: set on the server, it reaches the laptops, judges a fault without
    /// an agreement the same offline and on the server, and reports name it.
    @Test(arguments: EngineKind.available)
    func theProvincesRestorationDefaultJudgesTheSameEverywhere(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            try await server.writeLocal([RecordEdit(.setting, ProvinceSettings.id, [("restoration_hours", .int(6)), ("restoration_hours_vip", .int(3))])])
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder, clock: clock.now)
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
            do {
                var generator = SplitMix64(seed: 6)
                let shop = RecordID.make(using: &generator), fault = RecordID.make(using: &generator)
                try bob.replica.write([RecordEdit(.customer, shop, [("name", .text("Shop")), ("level", .text("standard")),
                                                                     ("branch", .text("Hangzhou")), ("manager", .text("Bob"))])])
                try bob.replica.write([RecordEdit(.fault, fault, [("customer", .text(shop)), ("symptom", .text("down")),
                                                                   ("reported_at", .text("2026-11-17T09:00:00+08:00")),
                                                                   ("restored_at", .text("2026-11-17T15:30:00+08:00")), ("status", .text("1:restored"))])])
                try await bob.sync()
                try await sue.sync()
                #expect(try bob.replica.record(.setting, ProvinceSettings.id)?["restoration_hours"] == .int(6), "the setting reached the laptop")

                let asOf = "2026-11-30T09:00:00+08:00"
                let offline = KPIEngine.report(try sue.replica.kpiFacts(), period: try ReportingPeriod("2026-11"), grouping: .province,
                                               asOf: Timestamp(iso: asOf)!).total.misses.filter { $0.kpi == .faultRestoration }
                #expect(offline.map(\.limit) == ["6 h province default"])
                #expect(offline.first?.deadline == Timestamp(iso: "2026-11-17T15:00:00+08:00"))
                let online = try await sue.client.get("/v1/kpi/misses", query: [("period", "2026-11"), ("kpi", "fault_restoration"), ("as_of", asOf)],
                                                      token: sue.binding.token)
                #expect(try Self.normalised(online) == Self.normalised(Array(JSONEncoder().encode(offline))))

                // Only the province sets it: a laptop's change is refused and waits in its outbox.
                try bob.replica.write([RecordEdit(.setting, ProvinceSettings.id, [("restoration_hours", .int(48))])])
                let summary = try await bob.sync()
                #expect(summary.rejected.first?.reason.contains("set by the province") == true)
            } catch {
                for laptop in [bob, sue] { await laptop.close() }
                throw error
            }
            for laptop in [bob, sue] { await laptop.close() }
        }
    }

    /// Attribution as it was (issue 28, item 3): a supervisor hands Alice's file to Bob mid-month;
    /// the handover travels with the file, and every unvisited week goes to whoever held it when the
    /// week ended, the same on Bob's laptop, on Sue's and on the server.
    @Test(arguments: EngineKind.available)
    func coverageAcrossAHandoverIsAttributedByWeekEverywhere(engine: EngineKind) async throws {
        // Wednesday 2026-11-18T10:00:00+08:00.
        let clock = TestClock(1_794_970_800_000)
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let alice = try await Laptop.enrol("Alice", server: server, folder: folder, clock: clock.now)
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder, clock: clock.now)
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, clock: clock.now)
            let laptops = [alice, bob, sue]
            do {
                var generator = SplitMix64(seed: 3)
                let shop = RecordID.make(using: &generator)
                try alice.replica.write([RecordEdit(.customer, shop, [("name", .text("Shop")), ("level", .text("standard")), ("branch", .text("Hangzhou")),
                                                                       ("manager", .text("Alice")), ("since", .text("2026-11-01"))])])
                try await alice.sync()
                try await sue.sync()
                try sue.replica.write([RecordEdit(.customer, shop, [("manager", .text("Bob"))])])
                try await sue.sync()
                try await bob.sync()
                try await alice.sync()
                #expect(try bob.replica.records(.handover).map { $0["previous"] } == [.text("Alice")], "the handover came with the file")

                let asOf = "2026-12-08T09:00:00+08:00"
                var reports: [KPIReport] = []
                for laptop in [bob, sue] {
                    reports.append(KPIEngine.report(try laptop.replica.kpiFacts(), period: try ReportingPeriod("2026-11"), grouping: .manager,
                                                    asOf: Timestamp(iso: asOf)!))
                }
                for report in reports {
                    #expect(report.groups.first { $0.name == "Alice" }?.figure(.visitCoverage).missed == 2)
                    #expect(report.groups.first { $0.name == "Bob" }?.figure(.visitCoverage).missed == 3)
                }
                let online = try await sue.client.get("/v1/kpi", query: [("period", "2026-11"), ("by", "manager"), ("as_of", asOf)], token: sue.binding.token)
                #expect(try Self.normalised(online) == Self.normalised(Array(JSONEncoder().encode(reports[1]))))

                // Nobody writes a handover record but with the change it records: Bob cannot push the file's
                // past onto Alice, nor Sue date one on its own.
                let forged = [("customer", FieldValue.text(shop)), ("at", .text("2099-01-01T00:00:00+00:00")), ("previous", .text("Alice")), ("manager", .text("Bob"))]
                try bob.replica.write([RecordEdit(.handover, RecordID.make(using: &generator), forged)])
                #expect(try await bob.sync().rejected.first?.reason.contains("only a supervisor of the branch hands a file") == true)
                try sue.replica.write([RecordEdit(.handover, RecordID.make(using: &generator), forged)])
                #expect(try await sue.sync().rejected.first?.reason.contains("must travel with the change of customer") == true)
                #expect(KPIEngine.report(try sue.replica.kpiFacts(), period: try ReportingPeriod("2026-11"), grouping: .manager,
                                             asOf: Timestamp(iso: asOf)!).groups.first { $0.name == "Alice" }?.figure(.visitCoverage).missed == 2)
            } catch {
                for laptop in laptops { await laptop.close() }
                throw error
            }
            for laptop in laptops { await laptop.close() }
        }
    }

    /// Times typed after the time they give (KPI.md, "Recorded late"), worked
    /// out by hand and typed on a laptop whose clock the test moves: the same
    /// offline on the supervisor's laptop and on the server after a sync.
    @Test(arguments: EngineKind.available)
    func eventsRecordedLateReadTheSameOfflineAndOnTheServer(engine: EngineKind) async throws {
        // 2026-11-18T10:02:00+08:00.
        let clock = TestClock(1_794_967_320_000)
        let minute: UInt64 = 60_000
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder, branch: "Hangzhou", clock: clock.now)
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, branch: "Hangzhou", clock: clock.now)
            do {
                var generator = SplitMix64(seed: 5)
                let shop = RecordID.make(using: &generator), fault = RecordID.make(using: &generator), complaint = RecordID.make(using: &generator)
                try bob.replica.write([RecordEdit(.customer, shop, [("name", .text("Shop")), ("level", .text("standard")),
                                                                     ("branch", .text("Hangzhou")), ("manager", .text("Bob"))])])
                try bob.replica.write([RecordEdit(.fault, fault, [("customer", .text(shop)), ("symptom", .text("no signal")),
                                                                   ("reported_at", .text("2026-11-18T10:00:00+08:00")), ("status", .text("1:reported"))])])
                try bob.replica.write([RecordEdit(.complaint, complaint, [("customer", .text(shop)), ("channel", .text("phone")), ("content", .text("slow")),
                                                                           ("received_at", .text("2026-11-18T10:00:00+08:00")), ("status", .text("1:received"))])])
                // 11:05: the feedback given as 10:20 (limit 11:00): met, recorded late.
                clock.advance(63 * minute)
                try bob.replica.write([RecordEdit(.fault, fault, [("first_feedback_at", .text("2026-11-18T10:20:00+08:00"))])])
                // 11:10: the complaint's feedback given as 11:06 (limit 12:00): typed within the tolerance.
                clock.advance(5 * minute)
                try bob.replica.write([RecordEdit(.complaint, complaint, [("first_feedback_at", .text("2026-11-18T11:06:00+08:00"))])])
                try await bob.sync()
                // The next morning, 08:30: the restoration given as 17:00 the day before (limit 18:00).
                clock.advance((21 * 60 + 20) * minute)
                try bob.replica.write([RecordEdit(.fault, fault, [("restored_at", .text("2026-11-18T17:00:00+08:00")), ("status", .text("1:restored"))])])
                try await bob.sync()
                try await sue.sync()

                let asOf = "2026-11-30T09:00:00+08:00"
                let offline = KPIEngine.recordedLate(try sue.replica.kpiFacts(), period: try ReportingPeriod("2026-11"), asOf: Timestamp(iso: asOf)!)
                #expect(offline.map(\.event.kpi) == [.faultRestoration, .faultFirstFeedback])
                #expect(offline.map(\.delaySeconds) == [Int64(15 * 3_600 + 30 * 60), Int64(45 * 60)])
                #expect(offline.last?.recorded.description == "2026-11-18T11:05:00+08:00")
                #expect(offline.allSatisfy { $0.event.record == fault && $0.event.manager == "Bob" })
                let online = try await sue.client.get("/v1/kpi/late", query: [("period", "2026-11"), ("as_of", asOf)], token: sue.binding.token)
                // The server adds when it received each typed time: Bob's syncs at 08:30 the next morning and at 11:10.
                var answered = try #require(try JSONSerialization.jsonObject(with: Data(online)) as? [[String: Any]])
                #expect(answered.map { $0["received_at"] as? String } == ["2026-11-19T08:30:00+08:00", "2026-11-18T11:10:00+08:00"])
                for index in answered.indices { answered[index]["received_at"] = nil }
                #expect(try Self.normalised(Array(JSONSerialization.data(withJSONObject: answered))) == Self.normalised(Array(JSONEncoder().encode(offline))))
                // The figures count the times given.
                let report = KPIEngine.report(try sue.replica.kpiFacts(), period: try ReportingPeriod("2026-11"), grouping: .province,
                                              asOf: Timestamp(iso: asOf)!)
                #expect(report.total.figure(.faultFirstFeedback).met == 1 && report.total.figure(.faultRestoration).met == 1)
                #expect(report.total.figure(.complaintFirstFeedback).met == 1)
            } catch {
                for laptop in [bob, sue] { await laptop.close() }
                throw error
            }
            for laptop in [bob, sue] { await laptop.close() }
        }
    }

    /// Issue 11's rules through a real sync: the restoration limit from the
    /// agreement, attribution to the case's owner and the visiting manager
    /// after a handover, agreement notices and unescalated complaints in the
    /// to-do list. A laptop offline and the server give the same figures.
    @Test(arguments: EngineKind.available)
    func handbookRulesGiveTheSameFiguresOfflineAndOnTheServer(engine: EngineKind) async throws {
        let clock = TestClock()
        try await TestServer.run(on: engine, clock: clock.now) { server in
            let folder = try TemporaryFolder()
            let bob = try await Laptop.enrol("Bob", server: server, folder: folder, branch: "Hangzhou", clock: clock.now)
            let sue = try await Laptop.enrol("Sue", server: server, folder: folder, role: .supervisor, branch: "Hangzhou", clock: clock.now)
            // Alice is a registered manager of the branch: a case's owner names a person of its file's branch (issue 24, item 4).
            _ = try await server.enrolmentCode(for: "Alice")
            var generator = SplitMix64(seed: 11)
            func id() -> String { RecordID.make(using: &generator) }

            // Alice held the file until 20 November; Bob holds it now. Sue enters the branch's paperwork.
            let shop = id(), agreement = id(), complaint = id()
            try sue.replica.write([RecordEdit(.customer, shop, [("name", .text("Shop")), ("level", .text("standard")), ("branch", .text("Hangzhou")),
                                                                ("manager", .text("Bob")), ("since", .text("2026-11-01"))])])
            // 2 h restoration agreed; ends 31 January 2027: expiry notice due 31 October, renewal due 31 December.
            try sue.replica.write([RecordEdit(.agreement, agreement, [("customer", .text(shop)), ("number", .text("A-7")), ("starts", .text("2026-01-01")),
                                                                      ("ends", .text("2027-01-31")), ("restore_hours", .int(2))])])
            try sue.replica.write([
                // Restored in 2 h 30 min: within the 8 h default, missed under the agreement's 2 h.
                RecordEdit(.fault, id(), [("customer", .text(shop)), ("symptom", .text("no signal")), ("reported_at", .text("2026-11-17T09:00:00+08:00")),
                                          ("first_feedback_at", .text("2026-11-17T09:20:00+08:00")), ("restored_at", .text("2026-11-17T11:30:00+08:00")),
                                          ("owner", .text("Alice")), ("status", .text("1:restored")), ("level", .text("standard"))]),
                RecordEdit(.visit, id(), [("customer", .text(shop)), ("manager", .text("Alice")), ("at", .text("2026-11-18T10:00:00+08:00")),
                                          ("kind", .text("routine")), ("summary", .text("routine check"))]),
                // Received Monday 16 November, past 3 working days on Thursday the 19th, nobody escalated it.
                RecordEdit(.complaint, complaint, [("customer", .text(shop)), ("channel", .text("phone")), ("content", .text("billing")),
                                              ("received_at", .text("2026-11-16T09:00:00+08:00")), ("first_feedback_at", .text("2026-11-16T10:00:00+08:00")),
                                              ("owner", .text("Alice")), ("status", .text("1:in-progress")), ("level", .text("standard"))]),
            ])
            try await sue.sync()
            try await bob.sync()

            let asOf = Timestamp(iso: "2026-11-30T09:00:00+08:00")!
            let period = try ReportingPeriod("2026-11")
            for (laptop, grouping) in [(bob, KPIGrouping.manager), (sue, .manager), (sue, .customer)] {
                let offline = KPIEngine.report(try laptop.replica.kpiFacts(), period: period, grouping: grouping, asOf: asOf)
                let online = try await laptop.client.get("/v1/kpi", query: [("period", "2026-11"), ("by", grouping.rawValue), ("as_of", asOf.description)],
                                                         token: laptop.binding.token)
                #expect(try Self.normalised(online) == Self.normalised(Array(JSONEncoder().encode(offline))), "\(laptop.name) by \(grouping)")
            }
            let figures = KPIEngine.report(try bob.replica.kpiFacts(), period: period, grouping: .manager, asOf: asOf)
            let alice = try #require(figures.groups.first { $0.name == "Alice" })
            #expect(alice.figure(.faultRestoration).missed == 1 && alice.misses.first { $0.kpi == .faultRestoration }?.limit == "2 h (agreement A-7)")
            #expect(alice.figure(.visitCoverage).met == 1 && alice.figure(.complaintResolution).missed == 1)
            let bobs = try #require(figures.groups.first { $0.name == "Bob" })
            #expect(bobs.figure(.visitCoverage) == KPIFigure(kpi: .visitCoverage, met: 0, missed: 3, pending: 1),
                    "weeks 45, 46 and 48 unvisited, 49 under way")
            #expect(bobs.figure(.agreementRenewalNotice).missed == 0 && bobs.figure(.faultRestoration).total == 0)
            let october = KPIEngine.report(try bob.replica.kpiFacts(), period: try ReportingPeriod("2026-10"), grouping: .manager, asOf: asOf)
            #expect(october.total.figure(.agreementRenewalNotice).missed == 1)

            // The to-do list: the complaint to escalate and the overdue expiry notice, in their sections.
            let todo = try await sue.client.get("/v1/kpi/todo", query: [("as_of", asOf.description)], token: sue.binding.token)
            let items = try #require(try JSONSerialization.jsonObject(with: Data(todo)) as? [[String: Any]])
            #expect(Set(items.compactMap { $0["kpi"] as? String }) == ["complaint_resolution", "agreement_renewal_notice"])
            #expect(items.allSatisfy { $0["escalated_at"] is NSNull })
            let decoded = KPIEngine.openPastLimit(try sue.replica.kpiFacts(), asOf: asOf)
            #expect(KPITodo(decoded).sections.map(\.id) == ["escalate", "agreements"])

            // The monthly service report: the server's page equals the one Bob prints offline; the dashboard links it.
            let page = String(decoding: try await sue.client.get("/dashboard/report", query: [("customer", shop), ("period", "2026-11"), ("as_of", asOf.description)],
                                                                 token: sue.binding.token), as: UTF8.self)
            let offlineReport = try #require(try bob.replica.serviceReport(customer: shop, period: period, asOf: asOf))
            #expect(page == offlineReport.document(Strings.load(.english)).html)
            #expect(page.contains("Service report — Shop, 2026-11") && page.contains("2 h (agreement A-7)") && page.contains("late by 30 min"))
            let dashboard = String(decoding: try await sue.client.get("/dashboard", query: [("period", "2026-11"), ("by", "customer"), ("as_of", asOf.description)],
                                                                      token: sue.binding.token), as: UTF8.self)
            #expect(dashboard.contains("<a href=\"/dashboard/report?customer=\(shop)&amp;period=2026-11\">Shop [\(shop.prefix(8))]</a>"))
            let managerRefused = await #expect(throws: SyncError.self) {
                try await bob.client.get("/dashboard/report", query: [("customer", shop)], token: bob.binding.token)
            }
            #expect(managerRefused?.message.contains("403") == true, "\(managerRefused?.message ?? "")")
            let malformed = await #expect(throws: SyncError.self) {
                try await sue.client.get("/dashboard/report", query: [("customer", "shop")], token: sue.binding.token)
            }
            #expect(malformed?.message.contains("400") == true, "\(malformed?.message ?? "")")

            // The complaint's handling report, in Chinese as asked, is the one Bob prints offline; the dashboard links it.
            func document(_ kind: String, _ record: String, _ extra: [(String, String)] = [], as laptop: Laptop? = nil) async throws -> String {
                let reader = laptop ?? sue
                return String(decoding: try await reader.client.get("/dashboard/document", query: [("kind", kind), ("customer", shop), ("id", record),
                                                                                                   ("as_of", asOf.description)] + extra,
                                                                    token: reader.binding.token), as: UTF8.self)
            }
            let handling = try await document("complaint", complaint, [("lang", "zh")])
            let offlineHandling = try CaseDocuments.document(.complaint, id: complaint, customer: shop, facts: try bob.replica.kpiFacts(),
                                                             records: try bob.replica.documentRecords(customer: shop), asOf: asOf, Strings.load(.chinese))
            #expect(handling == offlineHandling.html)
            #expect(handling.contains("<h1>投诉处理报告单</h1>") && handling.contains("未列入重点督办"))
            #expect(dashboard.contains("/dashboard/document?kind=complaint&amp;customer=\(shop)&amp;id=\(complaint)\""))
            #expect(dashboard.contains("/dashboard/document?kind=expiry&amp;customer=\(shop)&amp;id=\(agreement)\""))
            #expect(try await document("expiry", agreement).contains("<h1>Service expiry notice</h1>"), "English without a choice")
            for (kind, record, status) in [("complaint", complaint, "403"), ("complaint", id(), "404"), ("fault", complaint, "404"), ("visit", complaint, "400")] {
                let refused = await #expect(throws: SyncError.self) {
                    _ = try await document(kind, record, as: status == "403" ? bob : nil)
                }
                #expect(refused?.message.contains(status) == true, "\(kind) \(record.prefix(8)): \(refused?.message ?? "")")
            }

            for laptop in [bob, sue] { await laptop.close() }
        }
    }

    /// Sorted-key JSON, so two encoders' key orders do not matter.
    /// Sorted keys, and without the server's `freshness` (not part of the offline report).
    static func normalised(_ bytes: [UInt8]) throws -> String {
        var object = try JSONSerialization.jsonObject(with: Data(bytes))
        if var dictionary = object as? [String: Any] {
            dictionary["freshness"] = nil
            object = dictionary
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}
