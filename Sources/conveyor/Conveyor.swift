import ArgumentParser
import ConveyorCore

@main
struct Conveyor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conveyor",
        abstract: "Conveyor: a CI build backend on Redis Streams and Postgres.",
        subcommands: [NodeCommand.self, MigrateCommand.self, VersionCommand.self, ConfigCommand.self, SubmitCommand.self,
                      BuildsCommand.self, JobsCommand.self, LogsCommand.self, RequestCommand.self, CancelCommand.self, RestartCommand.self,
                      QueuesCommand.self, OwnersCommand.self, NodesCommand.self,
                      EncryptCommand.self, ReposCommand.self, EnvCommand.self, SecretsCommand.self, RepairCommand.self,
                      CronsCommand.self, CachesCommand.self])
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")
    func run() { print("conveyor \(Heartbeat.version)") }
}

/// Options every command that reads configuration accepts.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file (default: config/conveyor.yml, or CONVEYOR_CONFIG).")
    var config: String?

    @Option(name: .customLong("set"), help: "Override an option: --set key=value (repeatable).")
    var overrides: [String] = []

    func load(extra: [String: String] = [:]) throws -> Settings {
        var values = extra
        for pair in overrides {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--set expects key=value, got '\(pair)'") }
            values[parts[0]] = parts[1]
        }
        do {
            return try SettingsLoader.load(file: config, overrides: values)
        } catch {
            throw ValidationError(error.description)
        }
    }
}
