import ConveyorTesting
import ConveyorWorker
import Testing

/// Runs the worker benchmark small, so it keeps working; real numbers come from bench/worker.
@Suite("Worker: benchmark")
struct BenchmarkTests {
    @Test func benchmarkRuns() async throws {
        let context = try await TestEnvironment.context(roles: [.worker]) { $0.workerQueues = ["bench"]; $0.sandbox = "none" }
        let report = try await WorkerBenchmark.run(context: context, megabytes: 8, jobs: 20)
        print(report)
        #expect(report.contains("MB/s"))
        #expect(report.contains("p50"))
        #expect(!report.contains("no job started"))
    }
}
