import ConveyorCore
import ConveyorRedis
import ConveyorTesting
import Foundation
import Testing

/// The admission script against a real Redis: limits, order, leases, and many concurrent evaluators.
@Suite struct AdmissionTests {
    func jobs(_ ids: ClosedRange<Int64>, repo: String = "o/r", queue: String = "default", at base: Int64 = 1_000) -> [SlotBook.WaitingJob] {
        ids.map { SlotBook.WaitingJob(job: $0, repo: repo, queue: queue, createdMillis: base + $0) }
    }

    @Test func admitsUpToTheOwnerLimitInFIFOOrder() async throws {
        let context = try await TestEnvironment.context()
        let slots = context.slots
        try await slots.setLimits(owner: "octo", max: 3)
        // One clock reading for every call: the first admission may run the Redis repair (a fresh
        // prefix has no epoch), and a slow one must not let the 3 s test leases lapse in between.
        let now = nowMillis()
        try await slots.enqueue(owner: "octo", jobs: jobs(1...10))
        let first = try await slots.admit(owner: "octo", nowMillis: now)
        #expect(first.admitted == [1, 2, 3])
        #expect(first.running == 3 && first.max == 3 && first.waiting == 7)
        let none = try await slots.admit(owner: "octo", nowMillis: now)
        #expect(none.admitted.isEmpty)
        try await slots.release(owner: "octo", job: 2, forget: true)
        try await slots.release(owner: "octo", job: 2, forget: true) // twice is harmless
        #expect(try await slots.admit(owner: "octo", nowMillis: now).admitted == [4])
        await context.close()
    }

    @Test func priorityGoesFirstAndRepositoryAndQueueLimitsHold() async throws {
        let context = try await TestEnvironment.context()
        let slots = context.slots
        try await slots.setLimits(owner: "acme", max: 10, repoLimits: ["acme/slow": 1], queueLimits: ["osx": 1])
        var waiting = jobs(1...3, repo: "acme/slow") + jobs(4...6, queue: "osx") + jobs(7...8)
        waiting.append(SlotBook.WaitingJob(job: 9, repo: "acme/app", queue: "default", priority: 50, createdMillis: 99_999))
        try await slots.enqueue(owner: "acme", jobs: waiting)
        let admission = try await slots.admit(owner: "acme", nowMillis: nowMillis())
        #expect(admission.admitted == [9, 1, 4, 7, 8])
        #expect(Set(admission.blocked.map(\.reason)) == ["repository limit", "queue limit"])
        await context.close()
    }

    @Test func expiredLeasesFreeTheirSlots() async throws {
        let context = try await TestEnvironment.context() // lease 3 s
        let slots = context.slots
        try await slots.setLimits(owner: "lazy", max: 1)
        try await slots.enqueue(owner: "lazy", jobs: jobs(1...2))
        let now = nowMillis()
        #expect(try await slots.admit(owner: "lazy", nowMillis: now).admitted == [1])
        #expect(try await slots.admit(owner: "lazy", nowMillis: now + 1_000).admitted.isEmpty)
        // Past deadline (now + lease) plus grace (lease): the holder is presumed dead.
        let later = try await slots.admit(owner: "lazy", nowMillis: now + 6_500)
        #expect(later.expired == 1)
        #expect(later.admitted == [2])
        await context.close()
    }

    @Test func concurrentEvaluatorsNeverExceedTheLimit() async throws {
        let context = try await TestEnvironment.context()
        let slots = context.slots
        let owners = (0..<20).map { "owner\($0)" }
        for (i, owner) in owners.enumerated() {
            try await slots.setLimits(owner: owner, max: 1 + i % 4)
            try await slots.enqueue(owner: owner, jobs: jobs(Int64(i * 100)...Int64(i * 100 + 30)))
        }
        let admittedCounts = try await withThrowingTaskGroup(of: (String, Int).self) { group in
            for _ in 0..<8 {
                for owner in owners {
                    group.addTask { (owner, try await slots.admit(owner: owner, nowMillis: nowMillis()).admitted.count) }
                }
            }
            var total: [String: Int] = [:]
            for try await (owner, n) in group { total[owner, default: 0] += n }
            return total
        }
        for (i, owner) in owners.enumerated() {
            #expect(admittedCounts[owner] == 1 + i % 4, "\(owner) admitted \(admittedCounts[owner] ?? 0)")
            let running = try await context.redis.send(["ZCARD", RedisArgument(context.keys.running(owner))]).int
            #expect(running == Int64(1 + i % 4))
        }
        await context.close()
    }

    @Test func limitChangedAtRuntimeTakesEffectAtTheNextEvaluation() async throws {
        let context = try await TestEnvironment.context()
        let slots = context.slots
        try await slots.setLimits(owner: "grow", max: 1)
        let now = nowMillis()  // one reading: no lease lapses between the two evaluations
        try await slots.enqueue(owner: "grow", jobs: jobs(1...5))
        #expect(try await slots.admit(owner: "grow", nowMillis: now).admitted.count == 1)
        try await slots.setLimits(owner: "grow", max: 4)
        #expect(try await slots.admit(owner: "grow", nowMillis: now).admitted.count == 3)
        await context.close()
    }
}
