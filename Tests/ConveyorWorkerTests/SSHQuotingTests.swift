import ConveyorTesting
import ConveyorWorker
import Foundation
import Synchronization
import Testing

/// A hostile environment value crosses both quoting layers of the ssh executor (its command line,
/// then `sh -c` on the host) and arrives byte for byte, running nothing.
@Suite("Worker: ssh quoting")
struct SSHQuotingTests {
    @Test func hostileEnvValueArrivesExactly() async throws {
        let executor = SSHExecutor(target: try SSHExecutorTests.target())
        let value = "x'\u{301}; echo pwned; '\"$(echo pwned)`echo pwned`\\\n\u{308}🚀 * $HOME"
        let output = Mutex<[UInt8]>([])
        let job = ExecutionJob(id: 1, attempt: 1, script: "printf '%s' \"$HOSTILE\"\n", environment: ["HOSTILE": value])
        let outcome = try await executor.run(job, started: {}, output: { bytes in output.withLock { $0 += bytes } })
        #expect(outcome == .exited(0))
        #expect(output.withLock { $0 } == Array(value.utf8))
    }
}
