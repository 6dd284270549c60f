import ConveyorLogs
import ConveyorTesting
import Testing

@Suite("Logs benchmark runs")
struct BenchmarkTests {
    @Test func aSmallRunReportsThroughputAndLag() async throws {
        let context = try await TestEnvironment.context(roles: [.logs])
        let report = try await LogsBenchmark.run(context: context, megabytes: 4)
        print(report)
        #expect(report.contains("MB/s"))
        #expect(report.contains("p99"))
        await context.close()
    }
}
