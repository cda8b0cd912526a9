import FieldSyncProtocol
import FieldSyncSQLiteServer
import FieldSyncServer
import FieldSyncServerCore
import HTTPTypes
import Testing

/// `PushOrder` keeps a device's pushes sent ahead in the order it sent them,
/// and refuses, never holds for long, one whose predecessor cannot commit here.
@Suite struct PushOrderTests {
    let device = "d1"

    /// Waits until `count` pushes of `device` wait (no sleeping: the waiter registers within a few scheduler turns).
    func untilWaiting(_ order: PushOrder, _ count: Int, device: String) async {
        while order.waiting(device: device) < count { await Task.yield() }
    }

    /// `admit` refuses with `out_of_order` and leaves nothing waiting.
    func expectRefused(_ order: PushOrder, follows: UInt64) async {
        do {
            try await order.admit(device: device, follows: follows)
            Issue.record("admitted without its predecessor")
        } catch {
            #expect(isOutOfOrder(error))
        }
        #expect(order.waiting(device: device) == 0)
    }

    func isOutOfOrder(_ error: any Error) -> Bool {
        (error as? ServerError)?.body.error == ErrorCode.outOfOrder && (error as? ServerError)?.status.code == 409
    }

    @Test func aPushWhosePredecessorCommittedGoesAtOnce() async throws {
        let order = PushOrder()
        order.begin(device: device)
        order.committed(device: device, through: 1_000)
        order.end(device: device)
        order.begin(device: device)
        try await order.admit(device: device, follows: 1_000)
        try await order.admit(device: device, follows: 999)
        order.end(device: device)
    }

    @Test func aPushWaitsWhileItsPredecessorIsUnderWayAndGoesWhenItCommits() async throws {
        let order = PushOrder()
        order.begin(device: device)  // page 1
        order.begin(device: device)  // page 2, sent ahead
        let second = Task { try await order.admit(device: device, follows: 1_000) }
        await untilWaiting(order, 1, device: device)
        order.committed(device: "another device", through: 5_000)
        order.committed(device: device, through: 999)
        #expect(order.waiting(device: device) == 1, "neither another device's push nor an earlier counter releases it")
        order.committed(device: device, through: 1_000)
        try await second.value
        #expect(order.waiting(device: device) == 0)
    }

    @Test func aPushThatOvertookItsPredecessorWaitsForItToBegin() async throws {
        // Sent at once on two connections, the second page may arrive first.
        let order = PushOrder(grace: .seconds(60))
        order.begin(device: device)  // page 2
        let second = Task { try await order.admit(device: device, follows: 1_000) }
        await untilWaiting(order, 1, device: device)
        order.begin(device: device)  // page 1 arrives
        order.committed(device: device, through: 1_000)
        try await second.value
    }

    @Test func aPushIsRefusedWhenNothingItCouldFollowBeginsWithinTheGrace() async throws {
        // After a restart, or when the page before went to another instance.
        let order = PushOrder(grace: .milliseconds(10))
        order.begin(device: device)
        await expectRefused(order, follows: 1_000)
    }

    @Test func aPushIsRefusedWhenItsPredecessorFailsOrEndsShortOfIt() async throws {
        let order = PushOrder()
        order.begin(device: device)
        order.begin(device: device)
        let refused = Task { try await order.admit(device: device, follows: 1_000) }
        await untilWaiting(order, 1, device: device)
        order.failed(device: device, counters: 1...1_000)
        let outcome = await refused.result
        #expect(throws: (any Error).self) { try outcome.get() }
        if case .failure(let error) = outcome { #expect(isOutOfOrder(error)) }
        order.end(device: device)
        order.end(device: device)

        // The predecessor commits less than the push follows, then ends: nothing is left that could satisfy it.
        order.begin(device: device)
        order.begin(device: device)
        let stranded = Task { try await order.admit(device: device, follows: 3_000) }
        await untilWaiting(order, 1, device: device)
        order.committed(device: device, through: 2_000)
        #expect(order.waiting(device: device) == 1)
        order.end(device: device)
        await #expect(throws: (any Error).self) { try await stranded.value }
    }

    @Test func aDeviceMayHaveOnlySoManyPushesWaiting() async throws {
        let order = PushOrder(maxWaitingPerDevice: 2)
        for _ in 0..<4 { order.begin(device: device) }
        let first = Task { try await order.admit(device: device, follows: 1_000) }
        let second = Task { try await order.admit(device: device, follows: 2_000) }
        await untilWaiting(order, 2, device: device)
        await #expect(throws: (any Error).self) { try await order.admit(device: device, follows: 3_000) }
        order.committed(device: device, through: 2_000)
        try await first.value
        try await second.value

        let none = PushOrder(maxWaitingPerDevice: 0)
        none.begin(device: device)
        none.begin(device: device)
        await #expect(throws: (any Error).self, "0: every push sent ahead is refused") { try await none.admit(device: device, follows: 1) }
    }

    @Test func aPushWaitsNoLongerThanTheBound() async throws {
        let order = PushOrder(wait: .milliseconds(20), grace: .seconds(60))
        order.begin(device: device)
        order.begin(device: device)
        await expectRefused(order, follows: 1_000)
    }
}
