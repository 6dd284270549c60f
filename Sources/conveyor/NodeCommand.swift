import ArgumentParser
import ConveyorCore
import ConveyorNode
import Foundation
import Logging

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "node", abstract: "Run a node with the given roles.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "Roles: all, or a comma-separated list of web,gatekeeper,scheduler,worker,hub,logs,reaper.")
    var roles: String?

    @Option(help: "HTTP port of the web role.")
    var httpPort: Int?

    @Flag(help: "Development only: start the web role without api_token, every API call open (insecure_no_auth).")
    var insecureNoAuth = false

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel: String = ProcessInfo.processInfo.environment["CONVEYOR_LOG_LEVEL"] ?? "info"

    func run() async throws {
        var extra: [String: String] = [:]
        if let roles { extra["roles"] = roles }
        if let httpPort { extra["http_port"] = String(httpPort) }
        if insecureNoAuth { extra["insecure_no_auth"] = "true" }
        let settings = try options.load(extra: extra)
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        // Nothing in a node formats dates in local time (docs and payloads are UTC). Hummingbird's
        // Date-header formatter builds its Gregorian calendar in the default time zone before setting GMT,
        // which loads ICU's time-zone data (about 2 MB resident) unless the default is already GMT
        // (bench/README.md "Results: memory").
        NSTimeZone.default = .gmt
        var logger = Logger(label: "conveyor")
        logger[metadataKey: "node"] = "\(settings.nodeID)"
        try await Node.run(settings: settings, logger: logger)
    }
}

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "migrate", abstract: "Apply schema migrations.")
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let settings = try options.load()
        let context = try NodeContext.make(settings: settings, logger: Logger(label: "conveyor.migrate"))
        try await context.migrate()
        let versions = try await context.postgres.query("SELECT version, name FROM schema_migrations ORDER BY version")
        for row in versions.rows { print("\(row["version"].int ?? 0)\t\(row["name"].string ?? "")") }
        await context.close()
    }
}
