@testable import ConveyorPostgres
import Testing

/// The pool's state machine alone, without a server: each event and the actions it returns.
@Suite("Postgres pool state machine")
struct PoolStateMachineTests {
    struct Statement: PoolRequest, Equatable {
        var name: String
        var pipelinable = true
    }
    typealias Machine = PoolStateMachine<Statement, String>

    /// A pool whose connections have all connected once (on their own thread).
    private func connectedPool(_ count: Int) -> Machine {
        var machine = Machine(connections: count)
        for i in 0..<count {
            _ = machine.acquire("warm-\(i)")
        }
        for i in 0..<count {
            _ = machine.release(i, connected: true)
        }
        return machine
    }

    @Test func lendsIdleConnectionsThenQueuesLendersInOrder() {
        var machine = Machine(connections: 2)
        guard case .lend(let first, "a") = machine.acquire("a").connection,
              case .lend(let second, "b") = machine.acquire("b").connection else {
            Issue.record("two idle connections are lent at once")
            return
        }
        #expect(first != second)
        guard case .none = machine.acquire("c").connection, case .none = machine.acquire("d").connection else {
            Issue.record("a third lender waits")
            return
        }
        guard case .lend(first, "c") = machine.release(first, connected: true).connection else {
            Issue.record("the first lender waiting gets the connection given back")
            return
        }
        guard case .lend(second, "d") = machine.release(second, connected: true).connection else {
            Issue.record("the next one gets the other")
            return
        }
        #expect(machine.release(first, connected: true).failed.isEmpty)
    }

    @Test func anUnconnectedConnectionConnectsOnItsOwnThreadFirst() {
        var machine = Machine(connections: 1)
        guard case .runOnOwnThread(0, let run) = machine.submit(Statement(name: "a")).connection else {
            Issue.record("a connection never connected goes to its own thread")
            return
        }
        #expect(run == [Statement(name: "a")])
        #expect(machine.inFlight(on: 0) == 0, "nothing is in flight on the loop")
        guard case .none = machine.ownThreadFinished(0, connected: true).connection else {
            Issue.record("nothing queued: it idles")
            return
        }
        guard case .send(0, let sent) = machine.submit(Statement(name: "b")).connection else {
            Issue.record("connected, a pipelinable statement is sent for the loop")
            return
        }
        #expect(sent == [Statement(name: "b")])
    }

    @Test func queuedStatementsGoOutAsOnePipelineWhenAConnectionFinishes() {
        var machine = connectedPool(1)
        guard case .send(0, _) = machine.submit(Statement(name: "a")).connection else {
            Issue.record("sent at once on the idle connection")
            return
        }
        for name in ["b", "c", "d"] {
            guard case .none = machine.submit(Statement(name: name)).connection else {
                Issue.record("\(name) waits: nothing is queued behind statements in flight")
                return
            }
        }
        let simple = Statement(name: "multi", pipelinable: false)
        _ = machine.submit(simple)
        let a = machine.delivered(on: 0)
        #expect(a.request == Statement(name: "a") && a.handedBack)
        guard case .send(0, let pipeline) = a.actions.connection else {
            Issue.record("the queue's pipelinable statements go out together")
            return
        }
        #expect(pipeline.map(\.name) == ["b", "c", "d"])
        #expect(machine.inFlight(on: 0) == 3)
        let b = machine.delivered(on: 0)
        #expect(b.request?.name == "b" && b.moreInFlight && !b.handedBack)
        _ = machine.delivered(on: 0)
        let d = machine.delivered(on: 0)
        #expect(d.request?.name == "d" && d.handedBack)
        guard case .runOnOwnThread(0, [simple]) = d.actions.connection else {
            Issue.record("a statement that cannot be pipelined runs alone on the connection's thread")
            return
        }
        guard case .none = machine.ownThreadFinished(0, connected: true).connection else {
            Issue.record("then the connection idles")
            return
        }
        #expect(machine.delivered(on: 0).request == nil, "a stale delivery finds nothing")
    }

    @Test func aPipelineIsBoundedByMaxInFlight() {
        var machine = Machine(connections: 1, maxInFlight: 2)
        _ = machine.acquire("warm")
        for name in ["a", "b", "c"] { _ = machine.submit(Statement(name: name)) }
        guard case .send(0, let first) = machine.release(0, connected: true).connection else {
            Issue.record("the queue goes out when the lender gives the connection back")
            return
        }
        #expect(first.map(\.name) == ["a", "b"])
        _ = machine.delivered(on: 0)
        guard case .send(0, let second) = machine.delivered(on: 0).actions.connection else {
            Issue.record("the rest follows")
            return
        }
        #expect(second.map(\.name) == ["c"])
    }

    @Test func queuedStatementsDoNotStarveBehindLenders() {
        var machine = connectedPool(1)
        _ = machine.acquire("holder")
        _ = machine.acquire("next lender")
        _ = machine.submit(Statement(name: "single"))
        guard case .send(0, let sent) = machine.release(0, connected: true).connection else {
            Issue.record("no other connection serves the queue: it goes first")
            return
        }
        #expect(sent.map(\.name) == ["single"])
        guard case .lend(0, "next lender") = machine.delivered(on: 0).actions.connection else {
            Issue.record("then the lender")
            return
        }
    }

    @Test func aLossMidStatementFailsWhatWasSentAsOutcomeUnknownAndRequeuesTheUnsent() {
        var machine = connectedPool(1)
        _ = machine.submit(Statement(name: "a"))
        for name in ["b", "c", "d"] { _ = machine.submit(Statement(name: name)) }
        _ = machine.delivered(on: 0)  // a; b, c, d go out
        // b's server error was read, then the connection broke; d never reached libpq.
        let actions = machine.lost(0, unsent: 1, serverErrorRead: true)
        #expect(actions.closeConnection)
        #expect(actions.failedAtServer?.name == "b")
        #expect(actions.failed.map(\.0.name) == ["c"])
        #expect(actions.failed.allSatisfy { $0.1 == .outcomeUnknown })
        guard case .runOnOwnThread(0, let again) = actions.connection else {
            Issue.record("the unsent statement runs once, reconnected on the connection's own thread")
            return
        }
        #expect(again.map(\.name) == ["d"])
        #expect(!machine.connected[0])
    }

    @Test func aLentConnectionLostMidStatementFailsItsHoldersStatements() {
        var machine = connectedPool(1)
        _ = machine.acquire("holder")
        guard case .send(0, _) = machine.sendLent(Statement(name: "x"), on: 0).connection else {
            Issue.record("a holder's statement is sent through the loop")
            return
        }
        _ = machine.sendLent(Statement(name: "y"), on: 0)
        let x = machine.delivered(on: 0)
        #expect(x.request?.name == "x" && x.moreInFlight && !x.handedBack)
        let lost = machine.lost(0)
        #expect(lost.failed.map(\.0.name) == ["y"] && lost.failed[0].1 == .outcomeUnknown)
        guard case .none = lost.connection else {
            Issue.record("it stays lent to its holder")
            return
        }
        // Given back with a statement still in flight (not awaited): out of step, closed.
        _ = machine.sendLent(Statement(name: "z"), on: 0)
        let released = machine.release(0, connected: true)
        #expect(released.closeConnection && released.failed.map(\.0.name) == ["z"])
        #expect(!machine.connected[0])
    }

    @Test func shutdownFailsEverythingWaitingAndInFlight() {
        var machine = connectedPool(2)
        _ = machine.acquire("holder")
        _ = machine.submit(Statement(name: "in flight"))
        _ = machine.submit(Statement(name: "queued"))
        _ = machine.acquire("waiting lender")
        let actions = machine.shutDown()
        #expect(Set(actions.failed.map(\.0.name)) == ["in flight", "queued"])
        #expect(actions.failed.allSatisfy { $0.1 == .closed })
        #expect(actions.failedWaiters == ["waiting lender"])
        #expect(machine.isShutDown)
        #expect(machine.submit(Statement(name: "late")).failed.map(\.1) == [.closed])
        #expect(machine.acquire("late lender").failedWaiters == ["late lender"])
        #expect(machine.delivered(on: 0).request == nil && machine.delivered(on: 1).request == nil)
        guard case .none = machine.release(0, connected: true).connection else {
            Issue.record("nothing is handed out after shutdown")
            return
        }
        #expect(machine.shutDown().failed.isEmpty, "a second shutdown does nothing")
    }
}
