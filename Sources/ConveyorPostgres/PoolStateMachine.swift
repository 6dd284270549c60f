/// A request the pool can hold: single statements know whether they may be pipelined.
protocol PoolRequest {
    /// Sent in a pipeline (parameterized, or known to be one command); otherwise it runs alone on
    /// its connection's own thread through the simple protocol.
    var pipelinable: Bool { get }
}

/// Why the pool fails a request instead of running it.
enum PoolFailure: Equatable, Sendable {
    /// The client is closed.
    case closed
    /// The request was sent and its connection was lost before its outcome arrived: it may or may
    /// not have committed. It is not run again; a caller whose statement is idempotent retries.
    case outcomeUnknown
}

/// The pool's state, as a value: which connection is idle, lent, in the statement loop or busy on
/// its own thread; the statements in flight on each, in order; the lenders and statements waiting.
/// Every event returns the actions that carry it out (postgres-nio's `PoolStateMachine` pattern):
/// `ConnectionPool` holds it in a `Mutex` and does what it says, outside the lock. It touches no
/// connection, thread or socket, so it is tested without a server (`PoolStateMachineTests`).
///
/// A single statement is sent at once on an idle connection, so statements run in parallel on as
/// many server backends; when none is idle it waits in the queue, and the next connection to finish
/// takes the queue (up to `maxInFlight`) as one pipeline. Nothing is queued behind statements
/// already in flight, which may be slow. A connection the loop gave up is closed and reconnects on
/// its own thread at its next use; what was in flight on it fails with `.outcomeUnknown`.
struct PoolStateMachine<Request: PoolRequest, Waiter> {
    enum ConnectionState {
        case idle
        /// Lent to a caller (`withConnection`, transactions). Its statements sent through the loop
        /// (`lentStatementsOnLoop`) are in flight here, oldest first.
        case lent(inFlight: [Request])
        /// The pool's statements in flight, read by the loop, oldest first.
        case pipelining(inFlight: [Request])
        /// Busy on its own thread (connecting, or a statement the loop does not pipeline).
        case ownThread
    }

    /// What a connection does next. At most one per event.
    enum ConnectionAction {
        case none
        /// Send these on connection `index` in pipeline mode and watch its socket; the loop reads.
        case send(index: Int, [Request])
        /// Run these on connection `index`'s own thread (connect first if needed), then report
        /// `ownThreadFinished`.
        case runOnOwnThread(index: Int, [Request])
        /// Resume this waiter with connection `index`, lent to it.
        case lend(index: Int, Waiter)
    }

    /// The actions of one event.
    struct Actions {
        var connection: ConnectionAction = .none
        /// Requests that end without running, and why.
        var failed: [(Request, PoolFailure)] = []
        /// Lenders that get no connection (the pool is closed).
        var failedWaiters: [Waiter] = []
        /// Close the connection (unwatched first): it is never reused broken or out of step.
        var closeConnection = false
        /// After a loss: the oldest statement in flight, whose server error was read before the
        /// connection broke. That outcome is final (it rolled back); the caller delivers it.
        var failedAtServer: Request?
    }

    /// What a delivery leaves.
    struct Delivery {
        /// The statement delivered (nil if none was in flight: the pool closed meanwhile).
        var request: Request?
        /// More statements are in flight on the connection.
        var moreInFlight = false
        /// The pool's connection has nothing in flight any more and went back to the pool: the
        /// caller takes it out of pipeline mode before carrying out `actions`. A lent one stays in
        /// pipeline mode for its holder's next statement.
        var handedBack = false
        var actions = Actions()
    }

    /// Most statements in one pipeline (bounds how long a pipeline keeps its callers waiting).
    let maxInFlight: Int
    private(set) var connections: [ConnectionState]
    /// Whether each connection's last known state is connected; a connection that is not connects
    /// on its own thread, which blocks, never on the loop.
    private(set) var connected: [Bool]
    private var idle: [Int]
    private var waiters: [Waiter] = []
    private var queue: [Request] = []
    private(set) var isShutDown = false

    init(connections count: Int, maxInFlight: Int = 64) {
        self.maxInFlight = maxInFlight
        connections = Array(repeating: .idle, count: count)
        connected = Array(repeating: false, count: count)
        idle = Array((0..<count).reversed())
    }

    // MARK: - Lending

    /// A caller wants a connection of its own: one idle (preferring those `near` says), or it waits.
    mutating func acquire(_ waiter: Waiter, near: (Int) -> Bool = { _ in false }) -> Actions {
        var actions = Actions()
        if isShutDown {
            actions.failedWaiters = [waiter]
        } else if let i = takeIdle(near: near) {
            connections[i] = .lent(inFlight: [])
            actions.connection = .lend(index: i, waiter)
        } else {
            waiters.append(waiter)
        }
        return actions
    }

    /// The holder of lent connection `i` sends `request` through the loop: it goes in flight.
    /// Fails if the pool is closed.
    mutating func sendLent(_ request: Request, on i: Int) -> Actions {
        var actions = Actions()
        guard !isShutDown, case .lent(var inFlight) = connections[i] else {
            actions.failed = [(request, .closed)]
            return actions
        }
        inFlight.append(request)
        connections[i] = .lent(inFlight: inFlight)
        actions.connection = .send(index: i, [request])
        return actions
    }

    /// The holder gives connection `i` back (`connected`: its state now). A statement still in flight
    /// (its caller did not wait for it) leaves the connection out of step: it is closed and that
    /// statement's outcome is unknown.
    mutating func release(_ i: Int, connected isConnected: Bool) -> Actions {
        var actions = Actions()
        if case .lent(let inFlight) = connections[i], !inFlight.isEmpty {
            actions.failed = inFlight.map { ($0, .outcomeUnknown) }
            actions.closeConnection = true
            connected[i] = false
        } else {
            connected[i] = isConnected
        }
        actions.connection = handBack(i)
        return actions
    }

    // MARK: - Single statements

    /// Sends one statement on an idle connection (preferring those `near` says), on the loop if it
    /// can be pipelined and the connection is connected, else on its own thread; queues it when
    /// none is idle.
    mutating func submit(_ request: Request, near: (Int) -> Bool = { _ in false }) -> Actions {
        var actions = Actions()
        if isShutDown {
            actions.failed = [(request, .closed)]
        } else if let i = takeIdle(near: near) {
            actions.connection = assign([request], to: i)
        } else {
            queue.append(request)
        }
        return actions
    }

    /// The loop read the outcome of the oldest statement in flight on `i`.
    mutating func delivered(on i: Int) -> Delivery {
        switch connections[i] {
        case .pipelining(var inFlight) where !inFlight.isEmpty:
            let request = inFlight.removeFirst()
            if !inFlight.isEmpty {
                connections[i] = .pipelining(inFlight: inFlight)
                return Delivery(request: request, moreInFlight: true)
            }
            var actions = Actions()
            actions.connection = handBack(i)
            return Delivery(request: request, handedBack: true, actions: actions)
        case .lent(var inFlight) where !inFlight.isEmpty:
            let request = inFlight.removeFirst()
            connections[i] = .lent(inFlight: inFlight)
            return Delivery(request: request, moreInFlight: !inFlight.isEmpty)
        default:
            return Delivery()
        }
    }

    /// How many statements the loop has in flight on `i` (0: an event for it is stale).
    func inFlight(on i: Int) -> Int {
        switch connections[i] {
        case .pipelining(let inFlight), .lent(let inFlight): return inFlight.count
        case .idle, .ownThread: return 0
        }
    }

    /// Connection `i` failed under the loop. The statements sent on it have an unknown outcome. Of
    /// the pool's, the last `unsent` never reached libpq: they go back to the front of the queue. A
    /// lender's all fail (it awaits them in order and decides what to do). The connection is closed;
    /// a pool's connection goes back to work (reconnecting on its own thread), a lent one stays lent.
    /// `serverErrorRead`: the oldest one's server error was read before the break (its outcome is
    /// final: `failedAtServer`).
    mutating func lost(_ i: Int, unsent: Int = 0, serverErrorRead: Bool = false) -> Actions {
        var actions = Actions()
        actions.closeConnection = true
        connected[i] = false
        switch connections[i] {
        case .pipelining(var inFlight):
            let sentCount = max(0, inFlight.count - unsent)
            var sent = Array(inFlight.prefix(sentCount))
            inFlight.removeFirst(sentCount)
            if serverErrorRead && !sent.isEmpty { actions.failedAtServer = sent.removeFirst() }
            actions.failed = sent.map { ($0, .outcomeUnknown) }
            if isShutDown {
                actions.failed += inFlight.map { ($0, .closed) }
            } else {
                queue.insert(contentsOf: inFlight, at: 0)
            }
            actions.connection = handBack(i)
        case .lent(var inFlight):
            if serverErrorRead && !inFlight.isEmpty { actions.failedAtServer = inFlight.removeFirst() }
            actions.failed = inFlight.map { ($0, .outcomeUnknown) }
            connections[i] = .lent(inFlight: [])
        case .idle, .ownThread:
            break
        }
        return actions
    }

    /// Connection `i` finished its work on its own thread (`connected`: its state now).
    mutating func ownThreadFinished(_ i: Int, connected isConnected: Bool) -> Actions {
        connected[i] = isConnected
        var actions = Actions()
        actions.connection = handBack(i)
        return actions
    }

    // MARK: - Shutdown

    /// Fails every lender waiting, queued statement and statement in flight; afterwards no event
    /// hands out work. Connections are closed by the caller once their threads are idle.
    mutating func shutDown() -> Actions {
        var actions = Actions()
        guard !isShutDown else { return actions }
        isShutDown = true
        actions.failedWaiters = waiters
        actions.failed = queue.map { ($0, .closed) }
        waiters = []
        queue = []
        for i in connections.indices {
            switch connections[i] {
            case .pipelining(let inFlight):
                actions.failed += inFlight.map { ($0, .closed) }
                connections[i] = .idle
                idle.append(i)
            case .lent(let inFlight):
                actions.failed += inFlight.map { ($0, .closed) }
                connections[i] = .lent(inFlight: [])
            case .idle, .ownThread:
                break
            }
        }
        return actions
    }

    // MARK: - Handing out connections

    /// Connection `i` is free: it goes to the first waiter, unless statements wait and no other
    /// connection serves them (they cannot starve behind transactions); else it takes the queued
    /// statements; else it idles.
    private mutating func handBack(_ i: Int) -> ConnectionAction {
        connections[i] = .idle
        if isShutDown {
            idle.append(i)
            return .none
        }
        let othersServeQueue = connections.contains { state in
            switch state {
            case .pipelining, .ownThread: return true
            case .idle, .lent: return false
            }
        }
        if !waiters.isEmpty && (queue.isEmpty || othersServeQueue) {
            connections[i] = .lent(inFlight: [])
            return .lend(index: i, waiters.removeFirst())
        }
        guard let first = queue.first else {
            idle.append(i)
            return .none
        }
        if !first.pipelinable {
            queue.removeFirst()
            return assign([first], to: i)
        }
        var taken: [Request] = []
        var left: [Request] = []
        for request in queue {
            if request.pipelinable && taken.count < maxInFlight { taken.append(request) } else { left.append(request) }
        }
        queue = left
        return assign(taken, to: i)
    }

    /// Gives `requests` to connection `i`: pipelined through the loop when it is connected and they
    /// can be pipelined; else on its own thread.
    private mutating func assign(_ requests: [Request], to i: Int) -> ConnectionAction {
        if connected[i] && requests.allSatisfy(\.pipelinable) {
            connections[i] = .pipelining(inFlight: requests)
            return .send(index: i, requests)
        }
        connections[i] = .ownThread
        return .runOnOwnThread(index: i, requests)
    }

    /// An idle connection, preferring one `near` says (whose results the caller's own event loop
    /// reads, so that its task stays on that thread).
    private mutating func takeIdle(near: (Int) -> Bool) -> Int? {
        if let k = idle.lastIndex(where: near) { return idle.remove(at: k) }
        return idle.popLast()
    }
}

extension PoolStateMachine.ConnectionAction: Sendable where Request: Sendable, Waiter: Sendable {}
extension PoolStateMachine.Actions: Sendable where Request: Sendable, Waiter: Sendable {}
extension PoolStateMachine.Delivery: Sendable where Request: Sendable, Waiter: Sendable {}
