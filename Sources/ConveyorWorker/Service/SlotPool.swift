import ConveyorCore

/// The worker's slots: which jobs hold one, how many are free, and stopping them all on drain.
actor SlotPool {
    let total: Int
    private var running: [ObjectIdentifier: JobHandle] = [:]
    private let metrics: WorkerMetrics
    private let status: NodeStatus

    init(total: Int, metrics: WorkerMetrics, status: NodeStatus) {
        self.total = total
        self.metrics = metrics
        self.status = status
        metrics.slots.record(total)
        metrics.busy.record(0)
        status.slots = total
    }

    var free: Int { total - running.count }
    var busy: Int { running.count }

    func occupy(_ handle: JobHandle) {
        running[ObjectIdentifier(handle)] = handle
        status.adjustBusy(1)
        metrics.busy.record(running.count)
    }

    func release(_ handle: JobHandle) {
        guard running.removeValue(forKey: ObjectIdentifier(handle)) != nil else { return }
        status.adjustBusy(-1)
        metrics.busy.record(running.count)
        let waiters = freeWaiters.values
        freeWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
    }

    /// Free slots, waiting up to `timeout` for one when all are busy (0 if none freed meanwhile).
    /// A release wakes the waiter at once, so a freed slot is refilled without polling delay.
    func waitForFree(timeout: Duration) async -> Int {
        if free > 0 || Task.isCancelled { return free }
        waiterNumber += 1
        let number = waiterNumber
        let timer = Task { [weak self] in
            try? await Task.sleep(for: timeout)
            await self?.wake(number)
        }
        await withCheckedContinuation { freeWaiters[number] = $0 }
        timer.cancel()
        return free
    }

    private var freeWaiters: [Int: CheckedContinuation<Void, Never>] = [:]
    private var waiterNumber = 0

    private func wake(_ number: Int) {
        freeWaiters.removeValue(forKey: number)?.resume()
    }

    /// Waits until no job runs; false when `timeout` passed first.
    func waitIdle(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !running.isEmpty && ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(50)) } catch { break }
        }
        return running.isEmpty
    }

    func stopAll(_ reason: StopReason) {
        for handle in running.values { handle.requestStop(reason) }
    }
}
