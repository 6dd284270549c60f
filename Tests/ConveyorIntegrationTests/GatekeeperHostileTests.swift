import ConveyorCore
@testable import ConveyorGatekeeper
import ConveyorRedis
import ConveyorTesting
import Foundation
import Synchronization
import Testing

/// Config evaluation off the serving threads, within a time budget; requests that keep failing are
/// given up with their reason.
@Suite struct GatekeeperHostileTests {
    @Test func evaluationWithinItsBudgetReturnsItsValue() async {
        #expect(await ConfigEvaluator.run(budget: .seconds(60)) { 42 } == 42)
    }

    /// The body blocks until the test releases it: the caller is answered at the budget, not after.
    @Test func evaluationPastItsBudgetIsAbandoned() async {
        let gate = DispatchSemaphore(value: 0)
        let ran = Atomic<Bool>(false)
        let result = await ConfigEvaluator.run(budget: .milliseconds(50)) { () -> Int in
            gate.wait()
            ran.store(true, ordering: .sequentiallyConsistent)
            return 1
        }
        let finished = ran.load(ordering: .sequentiallyConsistent)
        #expect(result == nil)
        #expect(!finished, "answered while the evaluation was still running")
        gate.signal()
    }

    /// `/^(a+)+$/` against a 41-character env value: a clear rejection, not a pending request.
    @Test func backtrackingConditionRejectsTheRequest() async throws {
        let context = try await TestEnvironment.context()
        let repo = try PipelineTests.makeRepository("""
            language: shell
            env:
              global:
                - X=\(String(repeating: "a", count: 40))!
            if: env(X) =~ /^(a+)+$/
            script: true
            """)
        let requestID = try await PipelineTests.request(context, url: repo.url, sha: repo.sha)
        let row = try await runGatekeeper(context, until: requestID)
        #expect(row.state == "rejected")
        #expect(row.message.contains("exceeded its match limit"), "\(row.message)")
        await context.close()
    }

    /// Past `config_eval_timeout` the request is errored, acknowledged and not retried.
    @Test func slowEvaluationErrorsTheRequestOnce() async throws {
        let context = try await TestEnvironment.context { $0.configEvalTimeoutSeconds = 0.000_001 }
        let repo = try PipelineTests.makeRepository("language: shell\nenv:\n  jobs: [" +
            (1...150).map { "A=\($0)" }.joined(separator: ", ") + "]\nscript: true\n")
        let requestID = try await PipelineTests.request(context, url: repo.url, sha: repo.sha)
        let row = try await runGatekeeper(context, until: requestID)
        #expect(row.state == "errored")
        #expect(row.message.contains("config evaluation took too long"), "\(row.message)")
        #expect(row.attempts == 1)
        let pending = try await context.redis.xpendingSummary(context.keys.requests, group: Groups.gatekeeper).count
        #expect(pending == 0, "the request entry is acknowledged")
        await context.close()
    }

    /// A request that failed its attempts is errored with the last failure instead of swept forever.
    @Test func sweepGivesUpAfterTheLastAttempt() async throws {
        let context = try await TestEnvironment.context()
        let requestID = try await PipelineTests.request(context, url: "file:///nonexistent", sha: String(repeating: "a", count: 40))
        _ = try await context.postgres.query("UPDATE requests SET attempts = $2, last_error = 'boom' WHERE id = $1",
                                             [.int(requestID), .int(GatekeeperService.maxRequestAttempts)])
        try await GatekeeperService(context: context).attempt(requestID: requestID)
        let row = try await Self.request(requestID, context)
        #expect(row.state == "errored")
        #expect(row.message == "gave up after 3 attempts; the last one failed with: boom")
        await context.close()
    }

    struct RequestRow {
        var state: String
        var message: String
        var attempts: Int
    }

    static func request(_ id: Int64, _ context: NodeContext) async throws -> RequestRow {
        let row = try #require(try await context.postgres.query(
            "SELECT state, coalesce(result_message, '') AS message, attempts FROM requests WHERE id = $1", [.int(id)]).first)
        return RequestRow(state: row["state"].string ?? "", message: row["message"].string ?? "", attempts: row["attempts"].int ?? -1)
    }

    private func runGatekeeper(_ context: NodeContext, until requestID: Int64) async throws -> RequestRow {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await GatekeeperService(context: context).run() }
            let done = try await eventually(timeout: .seconds(60)) {
                try await Self.request(requestID, context).state != "pending"
            }
            #expect(done, "the request is still pending")
            // Give an acknowledgement a moment to land before the service stops.
            _ = try await eventually(timeout: .seconds(10)) {
                try await context.redis.xpendingSummary(context.keys.requests, group: Groups.gatekeeper).count == 0
            }
            group.cancelAll()
            return try await Self.request(requestID, context)
        }
    }
}
