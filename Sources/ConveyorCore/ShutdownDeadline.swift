import Foundation
import Logging
import ServiceLifecycle

/// Ends the process `seconds` after graceful shutdown began, whatever its services are waiting for
/// (a PostgreSQL or Redis that stopped answering, a C call that blocks): a node exits within
/// `drain_grace_seconds` + 5 s of SIGTERM (docs/runbook.md). Listed last among a node's services,
/// so the group tells it first. The wait runs on a thread of its own, which a blocked cooperative
/// pool cannot hold up; a node that stops in time exits before it fires.
public struct ShutdownDeadline: Service {
    let seconds: Double
    let logger: Logger

    public init(seconds: Double, logger: Logger) {
        self.seconds = seconds
        self.logger = logger
    }

    public func run() async throws {
        // Returns on graceful shutdown; throws if the group is cancelled instead (it is ending anyway).
        try? await gracefulShutdown()
        guard Task.isShuttingDownGracefully else { return }
        let (seconds, logger) = (seconds, logger)
        let thread = Thread {
            Thread.sleep(forTimeInterval: seconds)
            logger.error("shutdown took longer than its bound; exiting", metadata: ["seconds": "\(seconds)"])
            exit(1)
        }
        thread.name = "shutdown-deadline"
        thread.start()
    }
}
