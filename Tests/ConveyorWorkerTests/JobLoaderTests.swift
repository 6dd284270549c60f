@testable import ConveyorWorker
import ConveyorTesting
import Foundation
import Testing

@Suite("Coalesced job reads")
struct JobLoaderTests {
    /// Many concurrent reads (known jobs, a missing one, one with an unreadable config) each get
    /// their own answer, however the loader groups them into statements.
    @Test func everyCallerGetsItsOwnJob() async throws {
        let h = try await WorkerHarness.make()
        var jobs: [Int64: Int] = [:]
        for attempt in 1...12 {
            jobs[try await h.insertJob(WorkerHarness.spec([.script: ["echo \(attempt)"]]), attempt: attempt)] = attempt
        }
        let broken = try await h.insertJob(WorkerHarness.spec([.script: ["true"]]))
        try await h.context.postgres.query("UPDATE jobs SET config = '{\"not\": \"a job\"}' WHERE id = $1", broken)
        let missing: Int64 = 9_876_543_210
        let loader = JobLoader(context: h.context)

        let asked = Array(jobs.keys) + Array(jobs.keys) + [missing, broken]
        let answers = await withTaskGroup(of: (Int64, Result<ClaimedJob?, any Error>).self) { group in
            for id in asked.shuffled() {
                group.addTask { (id, await Result(catching: { try await loader.load(id) })) }
            }
            var all: [(Int64, Result<ClaimedJob?, any Error>)] = []
            for await answer in group { all.append(answer) }
            return all
        }
        #expect(answers.count == asked.count)
        for (id, result) in answers {
            switch result {
            case .success(let job?):
                #expect(job.id == id && job.attempt == jobs[id], "job \(id)")
            case .success(nil):
                #expect(id == missing, "only the missing job reads as absent, not \(id)")
            case .failure(let error):
                #expect(id == broken, "only the broken job fails, not \(id): \(error)")
            }
        }
        #expect(answers.contains { $0.0 == broken && (try? $0.1.get()) == nil })
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
